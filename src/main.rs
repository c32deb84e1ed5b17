//! The `lanterm` binary: the service and its tools, one subcommand each.
#![deny(unsafe_code)]

use std::collections::BTreeMap;
use std::process::ExitCode;

use lanterm::config::{self, Config};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = match args.first().map(String::as_str) {
        Some("--help" | "-h" | "help") => {
            print!("{}", config::help_text());
            return ExitCode::SUCCESS;
        }
        Some("serve") if args.iter().any(|a| a == "--help" || a == "-h") => {
            print!("{}", config::help_text());
            return ExitCode::SUCCESS;
        }
        Some("serve") => &args[1..],
        Some(cmd @ ("ls" | "new" | "attach")) => return lanterm::cli::run(cmd, &args[1..]),
        Some(lanterm::transfer::SUBCOMMAND) => {
            let rest: Vec<std::ffi::OsString> = std::env::args_os().skip(2).collect();
            return lanterm::transfer::run(&rest);
        }
        Some("get") => return lanterm::cli::get::run(&args[1..]),
        Some("passwd") => return lanterm::cli::passwd::run(&args[1..]),
        Some("--version" | "-V" | "version") => {
            println!("lanterm {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) if !other.starts_with('-') => {
            eprintln!("lanterm: unknown command {other:?} (try lanterm --help)");
            return ExitCode::from(2);
        }
        _ => &args[..],
    };
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = match Config::load(rest, &env, nix::unistd::geteuid().as_raw()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            lanterm::upgrade::handover::after_bad_settings(&e.to_string()); // an upgrade goes back
            return ExitCode::from(2);
        }
    };
    if let Err(e) = lanterm::auth::check_no_auth(config.no_auth, &config.listen) {
        eprintln!("{e}");
        lanterm::upgrade::handover::after_bad_settings(&e.to_string()); // an upgrade goes back
        return ExitCode::from(2);
    }
    lanterm::system::logging::init(config.log);
    lanterm::serve::run(config)
}
