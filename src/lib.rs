//! lanterm: a persistent web terminal for headless boards. This crate is the service and its
//! tools: sessions on PTYs that outlive their viewers, with their output kept in memory and in
//! SQLite. Each folder is one part of the system (ARCHITECTURE.md has the map); `serve` wires
//! them together.
#![deny(unsafe_code)]

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
pub mod serve;
pub mod store;
pub mod system;
pub mod transfer;
pub mod upgrade;
