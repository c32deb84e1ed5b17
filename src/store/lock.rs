//! One service per database: an exclusive `flock` on `DB.lock` beside the database, taken before
//! the database is touched and held for the store's life. The file holds the pid of the service
//! that has it, so a second `lanterm serve` on the same `--db` can say who holds it, and it
//! exits without changing anything.
//!
//! A lock file of its own rather than a lock on the database: SQLite takes POSIX locks on the
//! database file, and closing *any* descriptor of a file drops every POSIX lock the process
//! holds on it; `flock` on another file cannot interfere with them.
//!
//! An upgrade's `execve` keeps the lock: a duplicate of the locked descriptor crosses the exec
//! (named in the handover document) and the new program locks through it ([`inherit`]), so no
//! other service can slip in between the two programs.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// A descriptor of a lock file handed over by the previous program of an upgrade.
static INHERITED: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Keeps the lock file's descriptor inherited across an upgrade's `execve`, for [`acquire`].
pub fn inherit(fd: OwnedFd) {
    if let Ok(mut slot) = INHERITED.lock() {
        *slot = Some(fd);
    }
}

/// Disk space the lock file keeps allocated beyond the pid, for the writer to give back when
/// the disk is full: enough for the session records to be saved (a stop, a new session).
pub(super) const RESERVE: u64 = 64 * 1024;
/// The pid's line, padded: what the lock file keeps when its reserve is given up.
const PID_LINE: u64 = 16;

/// The database's lock, held until dropped (or the process ends).
pub(super) struct DbLock {
    file: Flock<File>,
}

impl DbLock {
    /// The locked descriptor, for the handover (a duplicate shares the lock).
    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// The reserve of disk space in the lock file, for the writer (a duplicate descriptor:
    /// closing it never releases the lock).
    pub(super) fn reserve(&self) -> Option<Reserve> {
        let file = self.file.try_clone().ok()?;
        let held = file.metadata().is_ok_and(|m| m.len() >= RESERVE);
        Some(Reserve { file, held })
    }
}

/// [`RESERVE`] bytes of allocated disk in the lock file: given back to the file system when a
/// full disk stops even the session records from being saved, taken again once writing works.
pub(super) struct Reserve {
    file: File,
    held: bool,
}

impl Reserve {
    /// Frees the reserve; `true` if there was one to free.
    pub(super) fn give_up(&mut self) -> bool {
        if !self.held || self.file.set_len(PID_LINE).is_err() {
            return false;
        }
        self.held = false;
        log::warn!("store: the disk is full: the {RESERVE} bytes kept for this were given back");
        true
    }

    /// Allocates the reserve again (after a [`Reserve::give_up`]), if there is room.
    pub(super) fn take_again(&mut self) {
        if !self.held {
            self.held = allocate(&self.file);
        }
    }
}

/// Allocates [`RESERVE`] bytes of disk to the lock file (`fallocate`: blocks are reserved,
/// no data is written); `false` when there is no room.
fn allocate(file: &File) -> bool {
    let len = nix::libc::off_t::try_from(RESERVE).unwrap_or(nix::libc::off_t::MAX);
    nix::fcntl::fallocate(file, nix::fcntl::FallocateFlags::empty(), 0, len).is_ok()
}

/// `DB.lock` for the database at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the database's lock, or says which process holds it. Touches nothing but the lock
/// file (created 0600 if missing; the directory must exist).
pub(super) fn acquire(db: &Path) -> Result<DbLock, String> {
    let path = lock_path(db);
    let shown = path.display();
    let file = match inherited(&path) {
        Some(file) => file,
        None => OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("opening the lock file {shown}: {e}"))?,
    };
    let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let holder = holder(&mut file).map_or("another process".to_owned(), |pid| {
                format!("another lanterm (pid {pid})")
            });
            return Err(format!(
                "{holder} is serving {}: one service per database (it holds {shown}); \
                 stop it first or give another --db",
                db.display()
            ));
        }
        Err((_, e)) => return Err(format!("locking {shown}: {e}")),
    };
    let mut lock = DbLock { file };
    let pid = format!(
        "{:<width$}\n",
        std::process::id(),
        width = PID_LINE as usize - 1
    );
    let written =
        (lock.file.seek(SeekFrom::Start(0))).and_then(|_| lock.file.write_all(pid.as_bytes()));
    if let Err(e) = written {
        // The lock holds all the same; only the message a second service gives is poorer.
        log::warn!("{shown}: cannot record this service's pid: {e}");
    }
    if lock.file.metadata().is_ok_and(|m| m.len() < RESERVE) && !allocate(&lock.file) {
        log::warn!("{shown}: no room to keep {RESERVE} bytes for a full disk");
    }
    Ok(lock)
}

/// The inherited lock descriptor, if it is this very file.
fn inherited(path: &Path) -> Option<File> {
    let fd = INHERITED.lock().ok()?.take()?;
    let file = File::from(fd);
    let same =
        |a: &std::fs::Metadata, b: &std::fs::Metadata| a.dev() == b.dev() && a.ino() == b.ino();
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) if same(&a, &b) => Some(file),
        _ => {
            log::warn!(
                "upgrade: the inherited lock file is not {}; locking it anew",
                path.display()
            );
            None
        }
    }
}

/// The pid written in the lock file by the service holding it.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(PID_LINE).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_naming_the_first() {
        let dir = std::env::temp_dir().join(format!("lanterm-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("x.db");
        let first = acquire(&db).unwrap();
        let err = acquire(&db).err().unwrap();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(!db.exists(), "the database itself is not touched");
        drop(first);
        let again = acquire(&db);
        assert!(again.is_ok(), "released when dropped");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
