//! Whom sessions run as, black-box with the real binary running as root (as CI runs it): a
//! session for a test user has that user's uid, gid and supplementary groups (checked with
//! `id` inside it against `id` outside), home and environment; root is refused without
//! `--allow-root`, system users without `--allowed-users`. The session's terminal belongs to
//! its user, and its working directory is checked as that user, never as root. Skipped, saying
//! so, when not root.

mod common;
#[path = "common/server.rs"]
mod server;

use std::process::Command;

use common::TempDir;
use serde_json::{Value, json};
use server::{Server, id};

/// A user and a group made for one test, removed when dropped.
struct TestUser {
    name: String,
    group: String,
}

impl TestUser {
    fn new() -> TestUser {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let c = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = format!("{}-{c}", std::process::id());
        let (name, group) = (format!("lt-user-{n}"), format!("lt-grp-{n}"));
        run(&["groupadd", &group]);
        run(&["useradd", "-m", "-s", "/bin/bash", "-G", &group, &name]);
        TestUser { name, group }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").args(["-r", &self.name]).output();
        let _ = Command::new("groupdel").arg(&self.group).output();
    }
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0]);
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn a_session_runs_as_its_user_with_their_groups_and_root_is_refused() {
    if !is_root() {
        eprintln!("SKIPPED: switching users needs the tests to run as root (CI does)");
        return;
    }
    let user = TestUser::new();
    let s = Server::start_logged_in(&["--no-allow-root"]);
    let expected_id = run(&["id", &user.name]);
    assert!(expected_id.contains(&user.group), "{expected_id}");
    let session = s.create(json!({
        "user": user.name,
        "command": "id; pwd; echo \"$HOME $USER $LOGNAME $SHELL\"",
    }));
    assert_eq!(session["user"], user.name.as_str());
    assert_eq!(session["created_by"], "bearer token from 127.0.0.1");
    let sid = id(&session);
    assert_eq!(s.wait_exit(&sid)["exit_code"], 0);
    let out = s
        .get(&format!("/api/sessions/{sid}/output?format=text"))
        .text();
    let home = format!("/home/{}", user.name);
    assert!(
        out.contains(expected_id.trim()),
        "id inside: {out:?}, outside: {expected_id:?}"
    );
    assert!(
        out.contains(&format!("\n{home}")),
        "starts in the home directory: {out:?}\n{}",
        s.log()
    );
    let env = format!("{home} {0} {0} /bin/bash", user.name);
    assert!(out.contains(&env), "{out:?}");

    let root = s.send(
        "POST",
        "/api/sessions",
        Some(json!({"user": "root", "command": "true"})),
    );
    root.assert_error(400, "bad_request");
    assert!(root.text().contains("--allow-root"), "{}", root.text());
    let nobody = s.send("POST", "/api/sessions", Some(json!({"command": "true"})));
    nobody.assert_error(400, "bad_request");
    assert!(
        nobody.text().contains("user"),
        "as root, say whom: {}",
        nobody.text()
    );
    let system = s.send(
        "POST",
        "/api/sessions",
        Some(json!({"user": "daemon", "command": "true"})),
    );
    system.assert_error(400, "bad_request");
    assert!(
        system.text().contains("--allowed-users"),
        "{}",
        system.text()
    );
}

#[test]
fn allowed_users_and_default_user_settings() {
    if !is_root() {
        eprintln!("SKIPPED: switching users needs the tests to run as root (CI does)");
        return;
    }
    let user = TestUser::new();
    let list = format!("{},daemon", user.name);
    let s = Server::start_logged_in(&[
        "--no-allow-root",
        "--allowed-users",
        &list,
        "--default-user",
        &user.name,
    ]);
    let session = s.create(json!({"command": "id -un"}));
    assert_eq!(session["user"], user.name.as_str(), "--default-user");
    let daemon = s.create(json!({"user": "daemon", "command": "id -un", "cwd": "/"}));
    let sid = id(&daemon);
    s.wait_exit(&sid);
    let out = s
        .get(&format!("/api/sessions/{sid}/output?format=text"))
        .text();
    // Allowed, and run the way login(1) would: through daemon's shell, which is nologin.
    assert!(
        out.contains("not available"),
        "daemon's nologin shell ran: {out:?}"
    );
}

/// Runs `command` in a new session as `user` (in `/`) and returns its output once it ended.
fn output_of(s: &Server, user: &str, command: &str) -> String {
    let session = s.create(json!({"user": user, "command": command, "cwd": "/"}));
    let sid = id(&session);
    s.wait_exit(&sid);
    s.get(&format!("/api/sessions/{sid}/output?format=text"))
        .text()
}

#[test]
fn the_terminal_belongs_to_the_session_user_as_login_gives_it() {
    if !is_root() {
        eprintln!("SKIPPED: switching users needs the tests to run as root (CI does)");
        return;
    }
    let user = TestUser::new();
    let s = Server::start_logged_in(&[]);
    // login's rule: the tty group when there is one, else the user's own group.
    let has_tty_group = Command::new("getent")
        .args(["group", "tty"])
        .output()
        .is_ok_and(|o| o.status.success());
    let group_of = |name: &str| match has_tty_group {
        true => "tty".to_owned(),
        false => run(&["id", "-gn", name]).trim().to_owned(),
    };
    let stat = "stat -c '%U %G %a' \"$(tty)\"";
    let out = output_of(&s, &user.name, stat);
    let expected = format!("{} {} 620", user.name, group_of(&user.name));
    assert!(out.contains(&expected), "{expected:?} in {out:?}");
    // What a user notices: mesg can open and close the terminal to messages (and screen,
    // pinentry can open it), which needs the user to own it.
    let out = output_of(&s, &user.name, "mesg n; mesg; mesg y; mesg");
    assert!(out.contains("is n") && out.contains("is y"), "{out:?}");
    // A root session keeps working, its terminal root's.
    let out = output_of(&s, "root", &format!("{stat}; echo done"));
    let expected = format!("root {} 620", group_of("root"));
    assert!(out.contains(&expected) && out.contains("done"), "{out:?}");
}

/// A directory made by root with `mode`, removed when dropped.
fn root_dir(tag: &str, mode: u32) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new(tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).expect("chmod");
    dir
}

#[test]
fn cwd_is_checked_as_the_session_user_and_reveals_nothing_root_only() {
    if !is_root() {
        eprintln!("SKIPPED: switching users needs the tests to run as root (CI does)");
        return;
    }
    let user = TestUser::new();
    let s = Server::start_logged_in(&["--no-allow-root"]);
    let secret = root_dir("secret", 0o700);
    let inside = secret.path().join("inside");
    std::fs::create_dir(&inside).expect("mkdir inside the secret directory");
    let create = |cwd: &str| {
        s.send(
            "POST",
            "/api/sessions",
            Some(json!({"user": user.name, "command": "pwd", "cwd": cwd})),
        )
    };
    // The refusal, with the path itself taken out: it must name the path.
    let refusal = |cwd: &str| {
        let r = create(cwd);
        r.assert_error(400, "bad_request");
        let message = r.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(message.contains(cwd), "names the cwd: {message:?}");
        assert!(message.contains("cwd"), "{message:?}");
        message.replace(cwd, "CWD")
    };
    let missing = format!("/lanterm-no-such-dir-{}", std::process::id());
    let not_there = refusal(&missing);
    for hidden in [
        inside.clone(),
        secret.path().join("not-there"),
        secret.path().to_path_buf(),
    ] {
        assert_eq!(
            refusal(&hidden.display().to_string()),
            not_there,
            "{} must answer as a directory that does not exist",
            hidden.display()
        );
    }
    assert_eq!(s.get("/api/sessions").json()["sessions"], json!([]));

    // Where the user may go, the session starts there.
    let open = root_dir("open", 0o755);
    let path = open.path().display().to_string();
    let r = create(&path);
    assert_eq!(r.status, 201, "{}", r.text());
    let session: Value = r.json()["session"].clone();
    assert_eq!(session["cwd"], path.as_str());
    let sid = id(&session);
    assert_eq!(s.wait_exit(&sid)["exit_code"], 0);
    let out = s
        .get(&format!("/api/sessions/{sid}/output?format=text"))
        .text();
    assert!(out.contains(&path), "pwd: {out:?}");
}
