//! The file transfer worker: `lanterm transfer-worker put DIR NAME OVERWRITE` or
//! `lanterm transfer-worker get DIR PATH`, started by the service (see `api::files`) as the
//! session's user: it already has that user's uid, gid and groups when it starts, so every
//! `open`, `chdir` and `rename` below is answered by the kernel as that user.
//!
//! Its protocol, on its standard input and output:
//! - First it answers one line: `ready [SIZE]` or `error CODE MESSAGE` (CODE one of
//!   `bad_request`, `not_found`, `forbidden`, `conflict`, `internal`).
//! - `put` then reads frames, each a 4-byte big-endian length and that many bytes; a frame of
//!   length 0 ends the file. The bytes go to a temporary file in DIR that takes NAME only when
//!   the end frame came; without it (end of input: the upload failed or was cancelled) the
//!   temporary file is removed. It ends with `done BYTES` or `error CODE MESSAGE`.
//! - `get` writes SIZE bytes of the file after its `ready SIZE` line.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Largest frame the worker accepts from the service.
pub const MAX_FRAME: usize = 1 << 20;

/// The hidden subcommand's name.
pub const SUBCOMMAND: &str = "transfer-worker";

/// A failure the service turns into an HTTP status.
struct Failure(&'static str, String);

impl Failure {
    fn from_io(what: &str, e: &io::Error) -> Failure {
        let code = match e.raw_os_error().map(nix::errno::Errno::from_raw) {
            Some(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => "not_found",
            Some(
                nix::errno::Errno::EACCES | nix::errno::Errno::EPERM | nix::errno::Errno::EROFS,
            ) => "forbidden",
            Some(nix::errno::Errno::EEXIST | nix::errno::Errno::EISDIR) => "conflict",
            Some(nix::errno::Errno::ENOSPC | nix::errno::Errno::EDQUOT) => "conflict",
            _ => "internal",
        };
        Failure(code, format!("{what}: {e}"))
    }
}

fn say(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Runs the worker with the arguments after its subcommand.
pub fn run(args: &[OsString]) -> ExitCode {
    let result = match args {
        [op, dir, name, overwrite] if op == "put" => {
            put(Path::new(dir), Path::new(name), overwrite == "1")
        }
        [op, dir, path] if op == "get" => get(Path::new(dir), Path::new(path)),
        _ => Err(Failure(
            "bad_request",
            "usage: transfer-worker put|get ...".into(),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            let message = message.replace('\n', " ");
            let _ = say(&format!("error {code} {message}"));
            ExitCode::FAILURE
        }
    }
}

/// A temporary file removed when dropped, unless it was kept.
struct Temp(Option<PathBuf>);

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn put(dir: &Path, name: &Path, overwrite: bool) -> Result<(), Failure> {
    std::env::set_current_dir(dir)
        .map_err(|e| Failure::from_io("entering the shell's directory", &e))?;
    if !overwrite && std::fs::symlink_metadata(name).is_ok() {
        return Err(Failure("conflict", "a file of that name exists".into()));
    }
    let temp_name = PathBuf::from(format!(".lanterm-upload.{}", std::process::id()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&temp_name)
        .map_err(|e| Failure::from_io("creating the file", &e))?;
    let mut temp = Temp(Some(temp_name.clone()));
    say("ready").map_err(|e| Failure::from_io("answering", &e))?;
    let bytes = receive(file)?;
    if overwrite {
        std::fs::rename(&temp_name, name).map_err(|e| Failure::from_io("naming the file", &e))?;
    } else {
        place_new(&temp_name, name)?;
    }
    temp.0 = None;
    say(&format!("done {bytes}")).map_err(|e| Failure::from_io("answering", &e))
}

/// Gives the finished temporary file `name`, refusing to replace anything: a hard link fails
/// if `name` appeared meanwhile. Filesystems without hard links get a check, then a rename.
fn place_new(temp: &Path, name: &Path) -> Result<(), Failure> {
    match std::fs::hard_link(temp, name) {
        Ok(()) => {
            let _ = std::fs::remove_file(temp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(Failure("conflict", "a file of that name exists".into()))
        }
        Err(_) if std::fs::symlink_metadata(name).is_ok() => {
            Err(Failure("conflict", "a file of that name exists".into()))
        }
        Err(_) => std::fs::rename(temp, name).map_err(|e| Failure::from_io("naming the file", &e)),
    }
}

/// Copies the framed input into `file` up to the end frame; the byte count.
fn receive(file: File) -> Result<u64, Failure> {
    let mut input = BufReader::with_capacity(64 * 1024, io::stdin().lock());
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    let mut buf = vec![0u8; MAX_FRAME];
    let mut total = 0u64;
    let cut = |e: io::Error| Failure("bad_request", format!("the upload ended early: {e}"));
    loop {
        let mut len = [0u8; 4];
        input.read_exact(&mut len).map_err(cut)?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            break;
        }
        if len > MAX_FRAME {
            return Err(Failure("internal", "frame too large".into()));
        }
        input.read_exact(&mut buf[..len]).map_err(cut)?;
        out.write_all(&buf[..len])
            .map_err(|e| Failure::from_io("writing the file", &e))?;
        total += len as u64;
    }
    let file = out
        .into_inner()
        .map_err(|e| Failure::from_io("writing the file", e.error()))?;
    file.sync_all()
        .map_err(|e| Failure::from_io("writing the file", &e))?;
    Ok(total)
}

fn get(dir: &Path, path: &Path) -> Result<(), Failure> {
    if path.is_relative() {
        std::env::set_current_dir(dir)
            .map_err(|e| Failure::from_io("entering the shell's directory", &e))?;
    }
    // Non-blocking, so a FIFO does not hold the open; it is refused just below anyway.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .map_err(|e| Failure::from_io("opening the file", &e))?;
    let meta = file
        .metadata()
        .map_err(|e| Failure::from_io("reading the file", &e))?;
    if !meta.is_file() {
        return Err(Failure("bad_request", "not a regular file".into()));
    }
    let size = meta.size();
    say(&format!("ready {size}")).map_err(|e| Failure::from_io("answering", &e))?;
    let mut out = io::stdout().lock();
    let sent = io::copy(&mut file.take(size), &mut out).unwrap_or(0);
    let _ = out.flush();
    if sent < size {
        return Err(Failure(
            "internal",
            "the file shrank while it was read".into(),
        ));
    }
    Ok(())
}
