//! The login records in the database: the password's hash and the hashes of live tokens.
//! Read on every authenticated request (a primary-key lookup, off the async threads), written
//! only when someone logs in or out or the password changes, so an idle service writes nothing.
//! `lanterm passwd` uses the same functions from another process; as every check reads the
//! database, its changes (all tokens revoked) apply to the running service at once.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::token::TokenHash;
use crate::model::clock::Timestamp;
use crate::model::error::Error;

/// One connection, used by one blocking task at a time.
pub struct Keys {
    conn: Mutex<Connection>,
}

fn db_error(e: rusqlite::Error) -> Error {
    Error::internal(format!("login records: {e}"))
}

impl Keys {
    /// Opens (creating and migrating if needed) the database at `path`. Blocking.
    pub fn open(path: &Path) -> Result<Keys, String> {
        Ok(Keys {
            conn: Mutex::new(crate::store::connect(path)?),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| Error::internal("login records: a previous use panicked"))?;
        f(&mut conn).map_err(db_error)
    }

    /// The stored password hash, if a password was ever set.
    pub fn password(&self) -> Result<Option<String>, Error> {
        self.with(|c| {
            c.prepare_cached("SELECT password FROM login WHERE id = 1")?
                .query_row([], |r| r.get(0))
                .optional()
        })
    }

    /// Stores a new password hash and revokes every token, in one transaction; returns how many
    /// tokens were revoked.
    pub fn set_password(&self, phc: &str, now: Timestamp) -> Result<usize, Error> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO login (id, password, changed_at) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET password = ?1, changed_at = ?2",
                params![phc, now.0],
            )?;
            let revoked = tx.execute("DELETE FROM tokens", [])?;
            tx.commit()?;
            Ok(revoked)
        })
    }

    /// Records a new token; drops expired ones, and the oldest beyond `max` live tokens.
    /// Returns how many live tokens were pushed out (their open connections must close).
    pub fn add_token(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        expires: Timestamp,
        address: &str,
        max: usize,
    ) -> Result<usize, Error> {
        let keep = i64::try_from(max.saturating_sub(1)).unwrap_or(i64::MAX);
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM tokens WHERE expires_at <= ?1", [now.0])?;
            let pushed_out = tx.execute(
                "DELETE FROM tokens WHERE hash IN (SELECT hash FROM tokens
                 ORDER BY created_at DESC, hash LIMIT -1 OFFSET ?1)",
                [keep],
            )?;
            // `created_at` orders logins for the push-out above: kept strictly increasing, so
            // two logins within one second cannot swap places (the older one goes first).
            tx.execute(
                "INSERT INTO tokens (hash, created_at, expires_at, address) VALUES (?1,
                 MAX(?2, COALESCE((SELECT MAX(created_at) FROM tokens), 0) + 1), ?3, ?4)",
                params![&hash[..], now.0, expires.0, address],
            )?;
            tx.commit()?;
            Ok(pushed_out)
        })
    }

    /// Whether `hash` is a live token at `now`.
    pub fn token_valid(&self, hash: &TokenHash, now: Timestamp) -> Result<bool, Error> {
        Ok(self.live_until(hash, now)?.is_some())
    }

    /// When `hash` expires, if it is a live token at `now`.
    pub fn live_until(&self, hash: &TokenHash, now: Timestamp) -> Result<Option<Timestamp>, Error> {
        self.with(|c| {
            let expires: Option<i64> = c
                .prepare_cached("SELECT expires_at FROM tokens WHERE hash = ?1")?
                .query_row([&hash[..]], |r| r.get(0))
                .optional()?;
            Ok(expires.filter(|&e| e > now.0).map(Timestamp))
        })
    }

    /// Revokes one token; says whether it existed.
    pub fn revoke(&self, hash: &TokenHash) -> Result<bool, Error> {
        self.with(|c| Ok(c.execute("DELETE FROM tokens WHERE hash = ?1", [&hash[..]])? > 0))
    }

    /// How many tokens are on record (expired ones included until the next login).
    pub fn token_count(&self) -> Result<i64, Error> {
        self.with(|c| c.query_row("SELECT count(*) FROM tokens", [], |r| r.get(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_within_one_second_are_pushed_out_oldest_first() {
        let dir = std::env::temp_dir().join(format!("lanterm-keys-same-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let keys = Keys::open(&dir.join("k.db")).unwrap();
        // The oldest login has the lowest hash: a tie broken by hash would push out the second.
        let hashes = [[1u8; 32], [9u8; 32], [5u8; 32]];
        for h in &hashes {
            keys.add_token(h, Timestamp(100), Timestamp(1000), "127.0.0.1", 2)
                .unwrap();
        }
        assert!(!keys.token_valid(&hashes[0], Timestamp(200)).unwrap());
        assert!(keys.token_valid(&hashes[1], Timestamp(200)).unwrap());
        assert!(keys.token_valid(&hashes[2], Timestamp(200)).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tokens_expire_are_capped_and_a_new_password_revokes_them_all() {
        let dir = std::env::temp_dir().join(format!("lanterm-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let keys = Keys::open(&dir.join("k.db")).unwrap();
        assert_eq!(keys.password().unwrap(), None);
        let t = |n: u8| [n; 32];
        for n in 0..5 {
            let now = Timestamp(100 + i64::from(n));
            let pushed_out = keys
                .add_token(&t(n), now, Timestamp(1000), "127.0.0.1", 3)
                .unwrap();
            assert_eq!(pushed_out, usize::from(n >= 3), "token {n}");
        }
        assert_eq!(
            keys.token_count().unwrap(),
            3,
            "capped at 3, oldest dropped"
        );
        assert!(!keys.token_valid(&t(1), Timestamp(200)).unwrap());
        assert!(keys.token_valid(&t(4), Timestamp(200)).unwrap());
        assert_eq!(
            keys.live_until(&t(4), Timestamp(200)).unwrap(),
            Some(Timestamp(1000))
        );
        assert!(
            !keys.token_valid(&t(4), Timestamp(1000)).unwrap(),
            "expired"
        );
        assert!(keys.revoke(&t(4)).unwrap() && !keys.revoke(&t(4)).unwrap());
        assert_eq!(keys.set_password("$argon2id$x", Timestamp(300)).unwrap(), 2);
        assert_eq!(keys.password().unwrap().as_deref(), Some("$argon2id$x"));
        assert!(!keys.token_valid(&t(3), Timestamp(300)).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
