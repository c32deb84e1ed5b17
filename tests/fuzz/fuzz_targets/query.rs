//! Fuzz target `query`: query strings through `Query::parse` and its typed getters, plus a
//! round trip: pairs (one `KEY=VALUE` per line of the input) percent-encoded, joined with `&`
//! and parsed must give back the last value of each key.
#![no_main]

use std::collections::HashMap;

use lanterm::fuzzing;
use libfuzzer_sys::fuzz_target;

/// The keys the handlers read.
const KEYS: &[&str] = &["from", "to", "format", "mode", "status"];

/// Every byte but the unreserved ones as `%XX`, as a careful client encodes.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    fuzzing::query(&text, KEYS);

    let pairs: Vec<(&str, &str)> = text
        .lines()
        .map(|l| l.split_once('=').unwrap_or((l, "")))
        .collect();
    let raw: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let expected: HashMap<&str, &str> = pairs.iter().copied().collect();
    let keys: Vec<&str> = expected.keys().copied().collect();
    let got = fuzzing::query(&raw.join("&"), &keys);
    for (key, value) in keys.iter().zip(got) {
        assert_eq!(value.as_deref(), Some(expected[key]), "key {key:?}");
    }
});
