//! `lanterm passwd`: sets the login password from one line of standard input (so it can be
//! scripted: `echo "$PW" | lanterm passwd`), asking twice without echo when standard input is a
//! terminal. Every login token is revoked; a running service sees the change at once, as it
//! checks the database on every request.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};

use crate::config::Config;

/// Runs the subcommand with `args` (after `passwd`); returns the exit status.
pub fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "Usage: lanterm passwd [--db PATH] [--config FILE]\n\n\
             Reads the new login password from standard input (one line) and revokes every\n\
             login. The database is found as lanterm serve finds it (--db, LANTERM_DB, the\n\
             config file, the default). Run it as the user the service runs as."
        );
        return ExitCode::SUCCESS;
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = match Config::load(args, &env, nix::unistd::geteuid().as_raw()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let password = match read_password() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("lanterm passwd: {e}");
            return ExitCode::from(2);
        }
    };
    match crate::auth::set_password_offline(&config.db, &password) {
        Ok(revoked) => {
            println!(
                "password set in {}; {revoked} login(s) revoked",
                config.db.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lanterm passwd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading standard input: {e}"))?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return Err("no password on standard input".into());
        }
        return Ok(line.to_string());
    }
    let first = prompt("New password: ")?;
    let second = prompt("Again: ")?;
    if first != second {
        return Err("the two passwords differ; nothing changed".into());
    }
    Ok(first)
}

/// Asks on standard error and reads a line from the terminal with echo off.
fn prompt(question: &str) -> Result<String, String> {
    let stdin = std::io::stdin();
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let saved = tcgetattr(&stdin).map_err(|e| format!("reading terminal settings: {e}"))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(|e| format!("turning off echo: {e}"))?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.map_err(|e| format!("reading the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
