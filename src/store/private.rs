//! The database file is private to the service's user: it holds terminal output (anything typed
//! or shown) and the login records. Created 0600 in a 0700 directory; found open to others (a
//! copy, a restore, a hand-made file), it is set to 0600 at start, with its `-wal` and `-shm`
//! (SQLite gives those the database's mode only when it creates them), and the log says so.
//!
//! Existing files are looked at through `O_PATH` descriptors only: closing an ordinary
//! descriptor of a file drops every POSIX lock this process holds on it, and SQLite connections
//! already open in this process (the store's, the login records') hold such locks on `-shm`.

use std::fs::{File, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::libc::{O_NOFOLLOW, O_PATH};

/// Creates the database's directory (0700) and file (0600) if missing, and makes the file and
/// its companions private if they are not. The directory, which may be shared, is left as it is.
pub(super) fn create_private_file(path: &Path) -> Result<(), String> {
    create_dir(path)?;
    match look_at(path, 0) {
        Ok(file) => make_private(&file, path)?,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // New, so nobody holds a lock on it yet.
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("opening {}: {e}", path.display()))?;
        }
        Err(e) => return Err(format!("opening {}: {e}", path.display())),
    }
    for suffix in ["-wal", "-shm"] {
        let companion = with_suffix(path, suffix);
        // Not following a link: only a file of the database's own is changed.
        match look_at(&companion, O_NOFOLLOW) {
            Ok(file) => make_private(&file, &companion)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(format!("opening {}: {e}", companion.display())),
        }
    }
    Ok(())
}

/// Creates the directory of the database at `path` (0700) if it is missing.
pub(super) fn create_dir(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// An `O_PATH` descriptor of `path` (with `O_NOFOLLOW` among `flags`, a link itself).
fn look_at(path: &Path, flags: i32) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(O_PATH | flags)
        .open(path)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Sets `file` (an `O_PATH` descriptor of `path`) to 0600 if its group or others have any
/// permission on it; refuses anything but a regular file.
fn make_private(file: &File, path: &Path) -> Result<(), String> {
    let shown = path.display();
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{shown}: not a regular file (a link?): move it away"
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    // fchmod does not take an O_PATH descriptor; its /proc link names the very same file.
    let same_file = format!("/proc/self/fd/{}", file.as_raw_fd());
    std::fs::set_permissions(&same_file, Permissions::from_mode(0o600)).map_err(|e| {
        format!("{shown}: mode {mode:o} lets others in, and setting it to 600 failed: {e}")
    })?;
    log::warn!(
        "{shown}: mode {mode:o} was open to others: set to 600 (the file holds terminal output \
         and login records)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_become_private_and_private_ones_stay_as_they_are() {
        let dir = std::env::temp_dir().join(format!("lanterm-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("x.db");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        create_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        let wal = with_suffix(&db, "-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&wal, Permissions::from_mode(0o602)).unwrap();
        create_private_file(&db).unwrap();
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
        std::fs::set_permissions(&db, Permissions::from_mode(0o400)).unwrap();
        let _ = create_private_file(&db); // read-only for its owner: not ours to widen
        assert_eq!(mode(&db), 0o400);
        // A link in the place of a companion is not followed.
        let elsewhere = dir.join("elsewhere");
        std::fs::write(&elsewhere, b"").unwrap();
        std::fs::set_permissions(&elsewhere, Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, with_suffix(&db, "-shm")).unwrap();
        assert!(create_private_file(&db).is_err());
        assert_eq!(mode(&elsewhere), 0o644);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
