//! Fuzz target `config`: `Config::load` on fuzzed flags, environment and config file. The input
//! is three parts split by NUL bytes: the arguments (one per line), the environment (`NAME=VALUE`
//! lines) and the config file's content. A config file path given by a flag or `LANTERM_CONFIG`
//! is replaced by this process's scratch file (fuzzing must not read `/dev/zero`); the file is
//! named by `LANTERM_CONFIG` when neither names one. Every error must be one line starting with
//! `lanterm: `, as the loader promises.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use lanterm::config::Config;
use libfuzzer_sys::fuzz_target;

fn scratch_file() -> &'static str {
    static FILE: OnceLock<String> = OnceLock::new();
    FILE.get_or_init(|| {
        let file: PathBuf = lanterm_fuzz::scratch_dir("config").join("lanterm.env");
        file.display().to_string()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let (args, env, file) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let path = scratch_file();
    std::fs::write(path, file).expect("writing the scratch config file");

    let mut args: Vec<String> = args.lines().map(String::from).collect();
    let mut named = false;
    for i in 0..args.len() {
        if args[i].starts_with("--config=") {
            args[i] = format!("--config={path}");
            named = true;
        } else if args[i] == "--config" && args.get(i + 1).is_some_and(|v| !v.starts_with("--")) {
            args[i + 1] = path.to_string();
            named = true;
        }
    }
    let mut env: BTreeMap<String, String> = env
        .lines()
        .map(|l| l.split_once('=').unwrap_or((l, "")))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(v) = env.get_mut("LANTERM_CONFIG") {
        *v = path.to_string();
    } else if !named {
        env.insert("LANTERM_CONFIG".into(), path.to_string());
    }

    for euid in [1000, 0] {
        if let Err(e) = Config::load(&args, &env, euid) {
            let e = e.to_string();
            assert!(e.starts_with("lanterm: ") && !e.contains('\n'), "{e:?}");
        }
    }
});
