//! What the fuzz targets share: a scratch directory per fuzzing process, and the sweep of those
//! left by earlier processes (libFuzzer ends a run with `exit`, so nothing is cleaned up then).

use std::path::PathBuf;

pub mod http;

/// A fresh, empty `lanterm-fuzz-TARGET-PID` directory in the temp dir. Directories of earlier
/// runs of `target` whose process is gone are removed first.
pub fn scratch_dir(target: &str) -> PathBuf {
    let tmp = std::env::temp_dir();
    let prefix = format!("lanterm-fuzz-{target}-");
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix(&prefix) else {
                continue;
            };
            let alive = std::path::Path::new("/proc").join(pid).exists();
            if !alive && pid.bytes().all(|b| b.is_ascii_digit()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = tmp.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the fuzz scratch directory");
    dir
}
