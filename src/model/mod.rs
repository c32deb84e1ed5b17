//! The words every part of the system speaks in: session ids, times, the session record and
//! its status, and errors with the contract's codes. Imports nothing else of the crate.

pub mod clock;
pub mod error;
pub mod id;
pub mod record;
