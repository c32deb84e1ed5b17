//! Fuzz target `control`: what an attached client sends, as the server reads it. An input that
//! starts with `{` is one text message (`input`, `resize`, `ack`, `redraw`); any other input is
//! the client's side of the WebSocket (masked frames), read with the server's settings.
#![no_main]

use std::sync::OnceLock;

use lanterm::config::Config;
use lanterm::fuzzing;
use libfuzzer_sys::fuzz_target;

/// `--max-frame` as the service has it by default.
fn max_frame() -> u64 {
    static MAX: OnceLock<u64> = OnceLock::new();
    *MAX.get_or_init(|| {
        let env = [("HOME".to_string(), "/root".to_string())].into();
        Config::load(&[], &env, 1000)
            .expect("default settings")
            .max_frame
    })
}

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'{') {
        if let Ok(text) = std::str::from_utf8(data) {
            fuzzing::control_text(text);
        }
    } else {
        fuzzing::control_stream(data, max_frame());
    }
});
