//! Session ids: 96 random bits from the kernel, written as 16 URL-safe characters after a random
//! letter or digit (so an id never starts with `-` and is never mistaken for a command-line
//! option).

use std::fmt;
use std::io::Read;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Length of an id in characters: one letter or digit, then 12 random bytes in base64url.
pub const ID_LEN: usize = 17;

/// An opaque, URL-safe session id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh id from `/dev/urandom`.
    pub fn random() -> std::io::Result<SessionId> {
        let mut raw = [0u8; 13];
        random_bytes(&mut raw)?;
        let mut s = String::with_capacity(ID_LEN);
        // The first 62 symbols of the alphabet are letters and digits.
        s.push(char::from(ALPHABET[usize::from(raw[12]) % 62]));
        for group in raw[..12].chunks_exact(3) {
            let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
            for shift in [18, 12, 6, 0] {
                s.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            }
        }
        Ok(SessionId(s))
    }

    /// Accepts a string from outside (a URL path, the database) if it has the shape of an id.
    pub fn parse(s: &str) -> Option<SessionId> {
        let ok = s.len() == ID_LEN
            && s.bytes().all(|b| ALPHABET.contains(&b))
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        ok.then(|| SessionId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Fills `buf` from the kernel's random source (`/dev/urandom`, which never blocks once the
/// system is up and is what `getrandom(2)` reads too).
pub fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SessionId::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a session id: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_start_like_an_option() {
        for _ in 0..2000 {
            let id = SessionId::random().unwrap();
            assert!(id.as_str().as_bytes()[0].is_ascii_alphanumeric(), "{id}");
        }
    }

    #[test]
    fn random_ids_are_url_safe_distinct_and_parse_back() {
        let a = SessionId::random().unwrap();
        let b = SessionId::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), ID_LEN);
        assert_eq!(SessionId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn parse_rejects_anything_else() {
        for bad in [
            "",
            "short",
            "../../../etc/pass",
            "AAAAAAAAAAAAAAAA%",
            "AAAAAAAAAAAAAAAAAA",
            "-AAAAAAAAAAAAAAAA",
            "_AAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad:?}");
        }
    }
}
