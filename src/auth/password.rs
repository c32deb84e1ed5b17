//! The login password, stored only as an Argon2id hash (PHC string) with a random 16-byte salt.
//!
//! Parameters: 9 MiB of memory, 4 passes, 1 lane. That is one of OWASP's equivalent Argon2id
//! settings (m=9216 KiB, t=4, p=1); of those it uses the least memory, which matters on a
//! 512 MiB board. Timings are in docs/BENCHMARKS.md ("Logins"). Verification reads the
//! parameters from the stored hash, so changing them here only affects new passwords, and
//! compares in constant time (the argon2 crate's comparison).

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::model::error::Error;

/// Memory in KiB, passes and lanes of new hashes.
pub const M_COST: u32 = 9 * 1024;
pub const T_COST: u32 = 4;
pub const P_COST: u32 = 1;

/// Accepted password lengths in bytes.
pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 1024;

/// Refuses passwords too short to resist guessing, too long to hash cheaply, or with control
/// characters (a pasted newline, say), with a message that says which.
pub fn check_rules(password: &str) -> Result<(), Error> {
    if password.len() < MIN_LEN {
        return Err(Error::bad_request(format!(
            "the password must be at least {MIN_LEN} characters"
        )));
    }
    if password.len() > MAX_LEN {
        return Err(Error::bad_request(format!(
            "the password must be at most {MAX_LEN} bytes"
        )));
    }
    if password.contains(char::is_control) {
        return Err(Error::bad_request(
            "the password cannot contain control characters (tabs, newlines)",
        ));
    }
    Ok(())
}

fn hasher() -> Result<Argon2<'static>, Error> {
    let params = Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|e| Error::internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh salt. Slow on purpose: call it off the async threads.
pub fn hash(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    crate::model::id::random_bytes(&mut salt)
        .map_err(|e| Error::internal(format!("reading random bytes: {e}")))?;
    hasher()?
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing the password: {e}")))
}

/// Whether `password` matches the stored `phc` hash. A malformed stored hash never matches.
/// Slow on purpose: call it off the async threads.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=9216,t=4,p=1$"), "{a}");
        assert_ne!(a, b, "same password, different salt");
        assert!(verify("correct horse", &a) && verify("correct horse", &b));
        assert!(!verify("correct horsf", &a) && !verify("", &a));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn rules() {
        assert!(check_rules("1234567").is_err());
        assert!(check_rules("12345678").is_ok());
        assert!(check_rules(&"x".repeat(MAX_LEN + 1)).is_err());
        assert!(check_rules("pass\nword").is_err());
        assert!(check_rules("pässwörd ✓").is_ok());
    }
}
