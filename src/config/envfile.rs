//! The config file: an environment file (systemd `EnvironmentFile=` format) of `LANTERM_*`
//! lines, with comments, quotes, escapes and `export `; errors name the file and line.

use std::path::Path;

use super::settings::{CONFIG_ENV, apply, setting_for_env};
use super::{Config, Res};

/// Applies the `LANTERM_*` lines of the environment file at `path` (named by `origin`).
pub(super) fn load_file(cfg: &mut Config, path: &Path, origin: &str) -> Res {
    let shown = path.display();
    let text = std::fs::read_to_string(path);
    let text = text.map_err(|e| fail!("{origin}: cannot read config file \"{shown}\": {e}"))?;
    for (n, line) in (1..).zip(text.lines()) {
        let entry = parse_env_line(line).map_err(|what| fail!("{shown} line {n}: {what}"))?;
        let Some((key, value)) = entry.filter(|(key, _)| key.starts_with("LANTERM_")) else {
            continue; // blank, comment, or meant for someone else
        };
        let at = format!("{key} in {shown} line {n}");
        let why = match setting_for_env(key) {
            Some(s) if s.env != CONFIG_ENV => {
                apply(cfg, s, &at, &value, false)?;
                continue;
            }
            Some(_) => "cannot be set inside the config file",
            None => "unknown setting (see lanterm --help)",
        };
        return Err(fail!("{at}: {why}"));
    }
    Ok(())
}

/// One line of an environment file: `Ok(None)` for blank and comment lines.
fn parse_env_line(line: &str) -> Result<Option<(&str, String)>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with(['#', ';']) {
        return Ok(None);
    }
    let t = t.strip_prefix("export ").map_or(t, str::trim_start);
    let malformed = || format!("{t:?} is not a NAME=VALUE line");
    let (key, value) = t.split_once('=').ok_or_else(malformed)?;
    let key = key.trim_end();
    let name_ok = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Err(malformed());
    }
    let unbalanced = || format!("{key}: unbalanced quotes (quote all of it, '...' or \"...\")");
    let value = unquote(value.trim_start()).ok_or_else(unbalanced)?;
    Ok(Some((key, value)))
}

/// Strips one level of '...' or "..." (with \" and \\ escapes); `None` if the quotes are off.
fn unquote(v: &str) -> Option<String> {
    if let Some(rest) = v.strip_prefix('\'') {
        return rest.strip_suffix('\'').map(str::to_string);
    }
    let Some(rest) = v.strip_prefix('"') else {
        return Some(v.to_string());
    };
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return chars.as_str().is_empty().then_some(out),
            '\\' => match chars.next()? {
                e @ ('"' | '\\') => out.push(e),
                e => out.extend(['\\', e]),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use log::LevelFilter;

    use crate::config::tests::{fails, load, temp_file};

    #[test]
    fn env_file_syntax() {
        let file = temp_file(
            "# comment\n; another\n\n   \nexport LANTERM_DEFAULT_USER=\"a\\\"b\\\\c\"  \r\n\
             LANTERM_DB = '/x y/#z'\nPATH=/usr/bin\nLANTERM_LOG=DEBUG   \nLANTERM_STOP_GRACE=\"0\"\n",
        );
        let c = load(&["--config", &file], &[]).unwrap();
        assert_eq!(c.default_user.as_deref(), Some("a\"b\\c"));
        assert_eq!(c.db, Path::new("/x y/#z"));
        assert_eq!(c.log, LevelFilter::Debug);
        assert_eq!(c.stop_grace, Duration::ZERO);
        std::fs::remove_file(file).unwrap();
        let cases = "# ok\\n\\nnot a setting|line 3: \"not a setting\" is not a NAME=VALUE line
            LANTERM_LOG='info|line 1: LANTERM_LOG: unbalanced quotes
            LANTERM_LOG=\"info\" x|line 1: LANTERM_LOG: unbalanced quotes
            1X=2|line 1: \"1X=2\" is not a NAME=VALUE line
            \\nLANTERM_NOPE=1|LANTERM_NOPE in @ line 2: unknown setting
            LANTERM_CONFIG=/x|LANTERM_CONFIG in @ line 1: cannot be set inside the config file
            LANTERM_FLUSH_INTERVAL=fast|\"fast\" is not a duration (like 500ms, 1s, 5m)";
        for case in cases.lines() {
            let (text, expect) = case.trim().split_once('|').unwrap();
            let file = temp_file(&text.replace("\\n", "\n"));
            let e = fails(&[], &[("LANTERM_CONFIG", &file)], "lanterm: ");
            assert!(e.contains(&expect.replace('@', &file)), "{e}");
            std::fs::remove_file(file).unwrap();
        }
        let e = "lanterm: --config: cannot read config file \"/nonexistent/lanterm.env\": ";
        fails(&["--config=/nonexistent/lanterm.env"], &[], e);
    }
}
