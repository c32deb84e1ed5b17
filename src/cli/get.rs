//! `lanterm get FILE`, typed inside a session: prints an OSC 8 hyperlink whose target is the
//! service's download of FILE for this session (`/api/sessions/{id}/files?path=/abs/FILE`,
//! relative to the page that shows the terminal). lanterm's UI downloads it when clicked.

use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "usage: lanterm get FILE   (inside a lanterm session: prints a link that \
downloads FILE in the browser)";

/// Runs `lanterm get ARGS`.
pub fn run(args: &[String]) -> ExitCode {
    let [file] = args else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if file == "--help" || file == "-h" {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let Some(session) = std::env::var("LANTERM_SESSION")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("lanterm get: not inside a lanterm session (LANTERM_SESSION is not set)");
        return ExitCode::from(2);
    };
    let path = match std::env::current_dir() {
        Ok(cwd) => cwd.join(file),
        Err(e) => {
            eprintln!("lanterm get: the current directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            eprintln!("lanterm get: {file}: not a regular file");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("lanterm get: {file}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let path = path.to_string_lossy();
    let url = link(&session, &path);
    let shown: String = path.chars().filter(|c| !c.is_control()).collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\x1b]8;;{url}\x1b\\{shown}\x1b]8;;\x1b\\");
    let _ = out.flush();
    ExitCode::SUCCESS
}

/// The download address of `path` in `session`, percent-encoded.
fn link(session: &str, path: &str) -> String {
    let mut q = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            q.push(b as char);
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    let id: String = session
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("/api/sessions/{id}/files?path={q}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_are_encoded() {
        assert_eq!(
            super::link("ab12", "/home/pi/a b&c.txt"),
            "/api/sessions/ab12/files?path=/home/pi/a%20b%26c.txt"
        );
    }
}
