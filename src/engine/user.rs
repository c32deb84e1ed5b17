//! Users: whom a session runs as, checked against the password database and the service's rules.

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{Gid, Uid, User};

use crate::engine::pty::Credentials;
use crate::model::error::{Code, Error, Result};

/// A user a session may run as, with what the child's environment needs from `passwd`.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub home: PathBuf,
    pub shell: PathBuf,
}

impl Account {
    fn from_user(u: User) -> Account {
        let shell = if u.shell.as_os_str().is_empty() {
            PathBuf::from("/bin/sh") // what login(1) does for an empty shell field
        } else {
            u.shell
        };
        Account {
            name: u.name,
            uid: u.uid,
            gid: u.gid,
            home: u.dir,
            shell,
        }
    }
}

/// The rules for choosing a session's user, from the service's settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Who the service itself runs as.
    pub service: Account,
    pub default_user: Option<String>,
    pub allow_root: bool,
    /// `--allowed-users`: names, and `@login` for every regular login user.
    pub allowed: Vec<String>,
}

impl Policy {
    /// The rules for this process, as `default_user` and `allow_root` settings say.
    pub fn for_this_process(
        default_user: Option<String>,
        allow_root: bool,
        allowed: Vec<String>,
    ) -> Result<Policy> {
        let uid = Uid::effective();
        let user = User::from_uid(uid)
            .map_err(|e| Error::internal(format!("looking up uid {uid}: {e}")))?
            .ok_or_else(|| {
                Error::internal(format!(
                    "the service's uid {uid} is not in the password database"
                ))
            })?;
        Ok(Policy {
            service: Account::from_user(user),
            default_user,
            allow_root,
            allowed,
        })
    }

    /// Decides whom a session asked for `requested` runs as, and with which credentials the
    /// child must switch to them (`None` when it stays the service's own user).
    pub fn resolve(&self, requested: Option<&str>) -> Result<(Account, Option<Credentials>)> {
        let name = match requested.or(self.default_user.as_deref()) {
            Some(name) => name,
            None if self.service.uid.is_root() && !self.allow_root => {
                return Err(Error::bad_request(
                    "the service runs as root: say which \"user\" the session runs as \
                     (or start the service with --default-user or --allow-root)",
                ));
            }
            None => self.service.name.as_str(),
        };
        let account = lookup(name)?;
        if account.uid.is_root() && !self.allow_root {
            return Err(Error::new(
                Code::BadRequest,
                "sessions as root are not allowed (start the service with --allow-root)",
            ));
        }
        if account.uid == self.service.uid && !account.uid.is_root() {
            // Not root: the service's own user is the only one possible, whatever the list.
            return Ok((account, None));
        }
        if !self.service.uid.is_root() {
            return Err(Error::bad_request(format!(
                "this service runs as {0} and can only start sessions as {0}, not as {1}",
                self.service.name, account.name
            )));
        }
        if !account.uid.is_root() && !self.permits(&account) {
            return Err(Error::bad_request(format!(
                "sessions as {} are not allowed here (allowed: {}; see --allowed-users)",
                account.name,
                self.allowed.join(", ")
            )));
        }
        if account.uid == self.service.uid {
            return Ok((account, None));
        }
        let cname = CString::new(account.name.as_bytes())
            .map_err(|_| Error::bad_request("user names cannot contain NUL"))?;
        let groups = nix::unistd::getgrouplist(&cname, account.gid)
            .map_err(|e| Error::internal(format!("reading the groups of {}: {e}", account.name)))?;
        let credentials = Credentials {
            uid: account.uid,
            gid: account.gid,
            groups,
        };
        Ok((account, Some(credentials)))
    }
}

impl Policy {
    /// Whether `--allowed-users` lets sessions run as `account` (root is `--allow-root`'s).
    fn permits(&self, account: &Account) -> bool {
        self.allowed
            .iter()
            .any(|a| *a == account.name || (a == "@login" && account.is_login_user()))
    }
}

impl Account {
    /// A regular login user: uid 1000 up to (not including) 60000, as Debian's `login.defs`
    /// allots them, with a shell that lets one log in.
    pub fn is_login_user(&self) -> bool {
        let uid = self.uid.as_raw();
        let shell = self.shell.to_string_lossy();
        (1000..60000).contains(&uid)
            && !shell.ends_with("/nologin")
            && !shell.ends_with("/false")
            && !shell.is_empty()
    }
}

/// Looks a user up by name; an unknown or malformed name is the client's error.
fn lookup(name: &str) -> Result<Account> {
    if name.is_empty() || name.len() > 32 || name.contains(['\0', '/']) {
        return Err(Error::bad_request(format!(
            "{name:?} is not a valid user name"
        )));
    }
    match User::from_name(name) {
        Ok(Some(u)) => Ok(Account::from_user(u)),
        Ok(None) => Err(Error::bad_request(format!("no such user: {name:?}"))),
        Err(e) => Err(Error::internal(format!("looking up user {name:?}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(default_user: Option<&str>, allow_root: bool) -> Policy {
        let login = vec!["@login".to_string()];
        Policy::for_this_process(default_user.map(str::to_owned), allow_root, login).unwrap()
    }

    #[test]
    fn unknown_and_malformed_users_are_bad_requests() {
        let p = policy(None, true);
        for name in ["no-such-user-xyz", "", "a/b", "nul\0"] {
            let err = p.resolve(Some(name)).unwrap_err();
            assert_eq!(err.code, Code::BadRequest, "{name:?}: {err}");
        }
    }

    #[test]
    fn the_service_user_needs_no_credentials_change() {
        let p = policy(None, true);
        let me = p.service.name.clone();
        let (account, creds) = p.resolve(Some(&me)).unwrap();
        assert_eq!(account.uid, Uid::effective());
        assert!(creds.is_none());
    }

    #[test]
    fn allowed_users_means_login_users_and_names() {
        let account = |uid: u32, shell: &str| Account {
            name: "u".into(),
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(uid),
            home: "/home/u".into(),
            shell: shell.into(),
        };
        assert!(account(1000, "/bin/bash").is_login_user());
        assert!(!account(999, "/bin/bash").is_login_user(), "system user");
        assert!(!account(65534, "/bin/sh").is_login_user(), "nobody");
        assert!(!account(1001, "/usr/sbin/nologin").is_login_user());
        assert!(!account(1001, "/bin/false").is_login_user());
        let mut p = policy(None, false);
        p.allowed = vec!["u".into()];
        assert!(p.permits(&account(5, "/usr/sbin/nologin")), "named");
        p.allowed = vec!["@login".into()];
        assert!(!p.permits(&account(5, "/bin/sh")));
        if Uid::effective().is_root() {
            // daemon (uid 1) exists on every Debian system and is not a login user.
            let err = p.resolve(Some("daemon")).unwrap_err();
            assert!(err.message.contains("--allowed-users"), "{err}");
        }
    }

    #[test]
    fn root_is_refused_without_allow_root() {
        let p = policy(None, false);
        let err = p.resolve(Some("root")).unwrap_err();
        assert!(err.message.contains("--allow-root"), "{err}");
        if Uid::effective().is_root() {
            // As root with neither --default-user nor --allow-root, `user` is required.
            let err = p.resolve(None).unwrap_err();
            assert!(err.message.contains("user"), "{err}");
        }
    }
}
