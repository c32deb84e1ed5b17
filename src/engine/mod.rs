//! The engine: sessions on PTYs that outlive their viewers, their output in a ring in memory
//! and in the store. [`Manager`] is its front door.

pub mod adopt;
pub mod event;
mod idle;
pub mod launch;
pub mod manager;
mod output;
pub mod pty;
mod reaper;
pub mod retention;
pub mod ring;
pub mod session;
pub mod signals;
mod supervise;
pub mod user;

pub use event::Event;
pub use launch::CreateRequest;
pub use manager::Manager;
pub use ring::RING_CAPACITY;
pub use session::{Chunk, Session};
