//! A unix-socket listener (`--listen unix:PATH`): a socket left by an earlier run is replaced
//! (any other file is refused), then the socket gets `--socket-mode` and `--socket-owner`.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;

use tokio::net::UnixListener;

use crate::config::Config;

/// Binds `path` with the configured mode and owner.
pub(super) fn bind_unix(path: &PathBuf, config: &Config) -> Result<UnixListener, String> {
    let shown = path.display();
    // A socket left by an earlier run is replaced; any other file is not ours to delete.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "cannot listen on unix:{shown}: a file that is not a socket is there"
            ));
        }
        std::fs::remove_file(path).map_err(|e| format!("removing the old unix:{shown}: {e}"))?;
    }
    let listener =
        UnixListener::bind(path).map_err(|e| format!("cannot listen on unix:{shown}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(config.socket_mode))
        .map_err(|e| format!("setting the mode of unix:{shown}: {e}"))?;
    if let Some(owner) = &config.socket_owner {
        let (user, group) = owner
            .split_once(':')
            .map_or((owner.as_str(), None), |(u, g)| (u, Some(g)));
        let uid = nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .ok_or_else(|| format!("--socket-owner: no such user {user:?}"))?
            .uid;
        let gid = match group {
            Some(g) => Some(
                nix::unistd::Group::from_name(g)
                    .ok()
                    .flatten()
                    .ok_or_else(|| format!("--socket-owner: no such group {g:?}"))?
                    .gid,
            ),
            None => None,
        };
        nix::unistd::chown(path, Some(uid), gid).map_err(|e| format!("chown unix:{shown}: {e}"))?;
    }
    Ok(listener)
}
