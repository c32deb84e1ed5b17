//! How the service talks to the system that runs it: systemd's notification protocol, the
//! log on standard error (the journal under systemd), and the stop signals (read from a
//! `signalfd`, so none is lost across an upgrade's exec).

pub mod logging;
pub mod notify;
pub mod stop_signal;
