//! The client commands of the same binary, for SSH sessions and scripts: `lanterm ls`,
//! `lanterm new`, `lanterm attach`. They talk to a running service over its HTTP API.
//! `lanterm passwd` (in `passwd`) works on the database directly.

mod attach;
pub mod get;
mod http;
mod marks;
pub mod passwd;

use std::process::ExitCode;

use serde_json::{Value, json};

/// Where the service is and how to prove who we are.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` of a plain-HTTP service.
    pub authority: String,
    pub token: Option<String>,
}

const USAGE: &str = "usage:
  lanterm ls [--url URL] [--token-file PATH]
  lanterm new [--name NAME] [--cwd DIR] [--url URL] [--token-file PATH] [-- COMMAND...]
  lanterm attach ID [--ro] [--url URL] [--token-file PATH]     (detach: Ctrl-\\ twice)
URL defaults to $LANTERM_URL or http://127.0.0.1:7700.
The login token (from POST /api/login) comes from $LANTERM_TOKEN, or from the file PATH
(keep it mode 600). --token T works too, but every user of this machine can read it in the
process list (ps, /proc/PID/cmdline): prefer $LANTERM_TOKEN or --token-file.";

/// The most a token file is read of (a token is 43 characters).
const TOKEN_FILE_MAX: u64 = 4096;

/// Parsed arguments of a client command.
#[derive(Default)]
struct Args {
    url: Option<String>,
    token: Option<String>,
    token_file: Option<String>,
    name: Option<String>,
    cwd: Option<String>,
    read_only: bool,
    positional: Vec<String>,
    command: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("lanterm: {name} needs a value"))
        };
        match flag {
            "--" => {
                a.command = it.by_ref().cloned().collect();
            }
            "--url" => a.url = Some(value("--url")?),
            "--token" => a.token = Some(value("--token")?),
            "--token-file" => a.token_file = Some(value("--token-file")?),
            "--name" => a.name = Some(value("--name")?),
            "--cwd" => a.cwd = Some(value("--cwd")?),
            "--ro" => a.read_only = true,
            f if f.starts_with('-') => {
                return Err(format!("lanterm: unknown option {f:?}\n{USAGE}"));
            }
            _ => a.positional.push(arg.clone()),
        }
    }
    Ok(a)
}

fn target(a: &Args) -> Result<Target, String> {
    let url = a
        .url
        .clone()
        .or_else(|| std::env::var("LANTERM_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:7700".into());
    let authority = url
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|a| !a.is_empty() && !a.contains('/'))
        .ok_or_else(|| format!("lanterm: --url: {url:?} is not http://HOST:PORT"))?;
    let token = match (&a.token, &a.token_file) {
        (Some(_), Some(_)) => {
            return Err("lanterm: give --token or --token-file, not both".into());
        }
        (Some(t), None) => Some(t.clone()),
        (None, Some(path)) => Some(read_token_file(path)?),
        (None, None) => std::env::var("LANTERM_TOKEN").ok(),
    };
    Ok(Target {
        authority: authority.to_string(),
        token,
    })
}

/// The token in the file at `path`: its first line, without surrounding white space.
fn read_token_file(path: &str) -> Result<String, String> {
    use std::io::Read;
    let failed = |e: &dyn std::fmt::Display| format!("lanterm: --token-file {path}: {e}");
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(TOKEN_FILE_MAX).read_to_string(&mut text))
        .map_err(|e| failed(&format!("cannot read it: {e}")))?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(failed(&"the file holds no token"));
    }
    Ok(token.to_string())
}

/// Runs `lanterm ls|new|attach ARGS`.
pub fn run(command: &str, args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let parsed = match parse(args).and_then(|a| target(&a).map(|t| (a, t))) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lanterm: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (args, target) = parsed;
    let result = runtime.block_on(async {
        match command {
            "ls" => ls(&target).await,
            "new" => new(&target, &args).await,
            _ => match args.positional.as_slice() {
                [id] => attach::attach(&target, id, args.read_only).await,
                _ => {
                    eprintln!("lanterm: attach takes one session id\n{USAGE}");
                    Ok(ExitCode::from(2))
                }
            },
        }
    });
    // `attach` may leave a blocking read of standard input behind: do not wait for a key.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn ls(target: &Target) -> Result<ExitCode, String> {
    let list = http::call(target, "GET", "/api/sessions", None).await?;
    let sessions = list["sessions"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<16}  {:<9}  {:<10}  {:>7}  {:>10}  {:<16}  COMMAND",
        "ID", "STATUS", "USER", "CLIENTS", "OUTPUT", "NAME"
    );
    for s in &sessions {
        let status = match (&s["status"], &s["exit_code"], &s["exit_signal"]) {
            (Value::String(st), Value::Number(c), _) if st != "running" => format!("{st}({c})"),
            (Value::String(st), _, Value::String(sig)) => format!("{st}({sig})"),
            (Value::String(st), _, _) => st.clone(),
            _ => "?".into(),
        };
        println!(
            "{:<16}  {:<9}  {:<10}  {:>7}  {:>10}  {:<16}  {}",
            s["id"].as_str().unwrap_or("?"),
            status,
            s["user"].as_str().unwrap_or("?"),
            s["clients"].as_u64().unwrap_or(0),
            s["output_bytes"].as_u64().unwrap_or(0),
            s["name"].as_str().unwrap_or(""),
            s["command"].as_str().unwrap_or("(login shell)"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn new(target: &Target, a: &Args) -> Result<ExitCode, String> {
    let mut body = json!({});
    if let Some(name) = &a.name {
        body["name"] = json!(name);
    }
    if let Some(cwd) = &a.cwd {
        body["cwd"] = json!(cwd);
    }
    if !a.command.is_empty() {
        body["command"] = json!(a.command.join(" "));
    }
    if let Some((cols, rows)) = attach::own_size() {
        body["cols"] = json!(cols);
        body["rows"] = json!(rows);
    }
    let created = http::call(target, "POST", "/api/sessions", Some(body)).await?;
    println!("{}", created["session"]["id"].as_str().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}
