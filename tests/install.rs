//! What a board gets without the Debian package: `scripts/install` into a scratch root
//! (`--destdir`), run twice, then `--uninstall`; and the settings file both ship
//! (`debian/lanterm.default`), whose every commented line must be a valid setting once
//! uncommented.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TempDir;
use lanterm::config::Config;

const BIN: &str = env!("CARGO_BIN_EXE_lanterm");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn install(args: &[&str]) -> Output {
    let out = Command::new(repo("scripts/install"))
        .args(args)
        .env_remove("DESTDIR")
        .output()
        .expect("run scripts/install");
    assert!(
        out.status.success(),
        "scripts/install {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn have_systemctl() -> bool {
    Command::new("systemctl").arg("--version").output().is_ok()
}

#[test]
fn install_into_a_scratch_root_is_idempotent_and_uninstalls() {
    let root = TempDir::new("install");
    let d = root.path().to_str().unwrap();
    let out = install(&["--destdir", d, "--prefix", "/opt/lt", BIN]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("lanterm passwd"),
        "says how to set the password: {said}"
    );

    let at = |p: &str| root.path().join(p.trim_start_matches('/'));
    let bin = at("/opt/lt/bin/lanterm");
    assert_eq!(mode(&bin), 0o755);
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(BIN).unwrap());
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("lanterm {}", env!("CARGO_PKG_VERSION"))
    );

    let unit_path = at("/etc/systemd/system/lanterm.service");
    assert_eq!(mode(&unit_path), 0o644);
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    assert!(
        unit.contains("\nExecStart=/opt/lt/bin/lanterm serve\n"),
        "{unit}"
    );
    assert!(
        !unit.contains("/usr/bin/lanterm"),
        "every path rewritten: {unit}"
    );
    let original = std::fs::read_to_string(repo("systemd/lanterm.service")).unwrap();
    assert_eq!(unit.lines().count(), original.lines().count());

    let defaults = at("/etc/default/lanterm");
    assert_eq!(mode(&defaults), 0o644);
    assert_eq!(
        std::fs::read(&defaults).unwrap(),
        std::fs::read(repo("debian/lanterm.default")).unwrap()
    );
    let state = at("/var/lib/lanterm");
    assert!(state.is_dir());
    assert_eq!(mode(&state), 0o700);
    assert!(at("/opt/lt/share/doc/lanterm/DEPLOY.md").is_file());
    if have_systemctl() {
        let wants = at("/etc/systemd/system/multi-user.target.wants/lanterm.service");
        let link = std::fs::read_link(&wants).expect("enabled: a wants/ link");
        assert_eq!(link, Path::new("/etc/systemd/system/lanterm.service"));
    }

    // Again, with the settings edited and the state directory opened up: settings are kept,
    // the directory is private again, the binary is replaced (a new inode).
    std::fs::write(&defaults, "LANTERM_LOG=debug\n").unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let inode = std::fs::metadata(&bin).unwrap().ino();
    let out = install(&["--destdir", d, "--prefix", "/opt/lt", BIN]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept"));
    assert_eq!(
        std::fs::read_to_string(&defaults).unwrap(),
        "LANTERM_LOG=debug\n"
    );
    assert_eq!(mode(&state), 0o700);
    assert_ne!(std::fs::metadata(&bin).unwrap().ino(), inode);

    std::fs::write(state.join("lanterm.db"), b"history").unwrap();
    install(&["--uninstall", "--destdir", d, "--prefix", "/opt/lt"]);
    assert!(!bin.exists() && !unit_path.exists());
    assert!(!at("/opt/lt/share/doc/lanterm").exists());
    assert!(
        defaults.is_file() && state.join("lanterm.db").is_file(),
        "kept"
    );
    install(&[
        "--uninstall",
        "--purge",
        "--destdir",
        d,
        "--prefix",
        "/opt/lt",
    ]);
    assert!(!defaults.exists() && !state.exists());
}

#[test]
fn install_refuses_a_missing_binary_and_a_relative_prefix() {
    let root = TempDir::new("install-bad");
    let d = root.path().to_str().unwrap();
    for args in [
        vec!["--destdir", d, "/nonexistent/lanterm"],
        vec!["--destdir", d, "--prefix", "usr", BIN],
    ] {
        let out = Command::new(repo("scripts/install"))
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
    }
    assert!(!root.path().join("etc").exists(), "nothing installed");
}

/// Every `#LANTERM_NAME=value` line of the shipped settings file, uncommented, is a setting
/// lanterm accepts (paths replaced by files that exist).
#[test]
fn every_commented_setting_of_the_default_file_is_valid() {
    let dir = TempDir::new("defaults");
    let text = std::fs::read_to_string(repo("debian/lanterm.default")).unwrap();
    let placeholder = dir.path().join("file.pem");
    std::fs::write(&placeholder, "").unwrap();
    let mut lines = Vec::new();
    for line in text.lines() {
        let Some(setting) = line.strip_prefix("#LANTERM_") else {
            assert!(
                line.is_empty() || line.starts_with("# "),
                "neither a comment nor a setting: {line:?}"
            );
            continue;
        };
        let (name, value) = setting.split_once('=').expect("NAME=value");
        let value = match name {
            "DB" => dir.db().display().to_string(),
            "TLS_CERT" | "TLS_KEY" => placeholder.display().to_string(),
            _ => value.to_owned(),
        };
        lines.push(format!("LANTERM_{name}={value}"));
    }
    assert!(lines.len() >= 15, "{lines:?}");
    let file = dir.path().join("lanterm");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let args = ["--config".to_string(), file.display().to_string()];
    let env = BTreeMap::from([("HOME".to_string(), "/root".to_string())]);
    let config = Config::load(&args, &env, 0).unwrap_or_else(|e| panic!("{e}\n{lines:?}"));
    assert_eq!(config.db, dir.db());
    assert_eq!(config.max_sessions, 32);
}
