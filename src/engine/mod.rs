//! The engine: sessions on PTYs that outlive their viewers, their output in a ring in memory
//! and in the store. [`Manager`] is its front door; the rest of the crate sees only what is
//! re-exported here (and `pty`, for the upgrade's descriptors and `lanterm attach`'s terminal).
//! Its state (`shared`) is private to it.

mod adopt;
mod child;
mod client_guard;
mod event;
mod hold;
mod idle;
mod launch;
mod manager;
mod output;
pub mod pty;
mod reaper;
mod retention;
mod ring;
mod session;
mod session_signal;
mod shared;
mod signals;
mod slots;
mod supervise;
mod user;

pub use adopt::{Frozen, FrozenSession, HandedSession};
pub use client_guard::ClientGuard;
pub use event::Event;
pub use launch::{CreateRequest, dimension};
pub use manager::Manager;
pub use ring::RING_CAPACITY;
pub use session::{Chunk, Session, Tail};
pub use signals::parse_stop_signal;
