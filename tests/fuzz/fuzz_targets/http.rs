//! Fuzz target `http`: arbitrary bytes as one client connection to the real HTTP/1.1 server,
//! router and handlers, over a real manager and database (see `lanterm_fuzz::http`).
#![no_main]

use std::sync::OnceLock;

use lanterm_fuzz::http::Harness;
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<Harness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    HARNESS.get_or_init(Harness::new).run(data);
});
