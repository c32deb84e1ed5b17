//! How the service talks to the system that runs it: systemd's notification protocol and the
//! log on standard error (the journal under systemd).

pub mod logging;
pub mod notify;
