//! Login tokens: 256 random bits written as 43 base64url characters. The service keeps only a
//! BLAKE2s-256 hash of each (a token is as strong as a key, so a fast hash is enough), and the
//! cookie that carries one to the browser.

use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use blake2::{Blake2s256, Digest};

/// The name of the login cookie on plain HTTP.
pub const COOKIE_NAME: &str = "lanterm_session";
/// Its name when set over HTTPS: browsers keep a `__Host-` cookie only if it is `Secure`, for
/// `Path=/` and this host alone (no `Domain`), and no plain-HTTP page can set or replace it.
pub const SECURE_COOKIE_NAME: &str = "__Host-lanterm_session";

/// Length of a token in characters.
pub const LEN: usize = 43;

/// The hash a token is stored and looked up by.
pub type TokenHash = [u8; 32];

/// A fresh token and its hash.
pub fn generate() -> std::io::Result<(String, TokenHash)> {
    let mut raw = [0u8; 32];
    crate::model::id::random_bytes(&mut raw)?;
    let secret = Base64UrlUnpadded::encode_string(&raw);
    let hash = hash(&secret);
    Ok((secret, hash))
}

pub fn hash(secret: &str) -> TokenHash {
    Blake2s256::digest(secret.as_bytes()).into()
}

/// Whether `s` has the shape of a token (so junk is refused before any lookup).
pub fn well_formed(s: &str) -> bool {
    s.len() == LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Equality of two hashes in time that does not depend on where they differ.
pub fn same(a: &TokenHash, b: &TokenHash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Set-Cookie` value that logs the browser in for `lifetime`; `secure` (HTTPS): the
/// `__Host-` name and `Secure`.
pub fn cookie(secret: &str, lifetime: Duration, secure: bool) -> String {
    let (name, secure) = attributes(secure);
    format!(
        "{name}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        lifetime.as_secs()
    )
}

/// The `Set-Cookie` value that removes the login cookie set as `cookie(.., secure)` would.
pub fn clear_cookie(secure: bool) -> String {
    let (name, secure) = attributes(secure);
    format!("{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
}

fn attributes(secure: bool) -> (&'static str, &'static str) {
    if secure {
        (SECURE_COOKIE_NAME, "; Secure")
    } else {
        (COOKIE_NAME, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed_distinct_and_hash_stably() {
        let (a, ha) = generate().unwrap();
        let (b, hb) = generate().unwrap();
        assert!(well_formed(&a) && well_formed(&b) && a != b);
        assert!(same(&hash(&a), &ha) && !same(&ha, &hb));
        assert!(!well_formed("short") && !well_formed(&format!("{}!", &a[1..])));
    }

    #[test]
    fn cookies_carry_the_contract_attributes() {
        let c = cookie("TOKEN", Duration::from_secs(60), false);
        assert_eq!(
            c,
            "lanterm_session=TOKEN; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"
        );
        let secure = cookie("T", Duration::from_secs(1), true);
        assert!(secure.starts_with("__Host-lanterm_session=T;") && secure.ends_with("; Secure"));
        assert!(!secure.contains("Domain"), "__Host- cookies name no domain");
        assert!(clear_cookie(true).starts_with("__Host-lanterm_session=;"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
