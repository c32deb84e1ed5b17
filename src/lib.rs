//! lanterm: a persistent web terminal for headless boards. This crate is the service's engine:
//! sessions on PTYs that outlive their viewers, with their output kept in memory and in SQLite.
#![deny(unsafe_code)]

pub mod adopt;
pub mod api;
pub mod auth;
mod child;
pub mod client;
pub mod clock;
pub mod config;
pub mod error;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod handover;
pub mod id;
mod idle;
pub mod launch;
pub mod logging;
pub mod manager;
pub mod notify;
pub mod passwd;
pub mod pty;
mod reaper;
pub mod record;
pub mod retention;
pub mod ring;
pub mod serve;
pub mod session;
mod session_signal;
pub mod stop_signal;
pub mod store;
mod supervise;
pub mod upgrade;
pub mod user;
