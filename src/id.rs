//! Session ids: 96 random bits from the kernel, written as 16 URL-safe characters.

use std::fmt;
use std::io::Read;

use serde::{Serialize, Serializer};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Length of an id in characters (12 random bytes in base64url).
pub const ID_LEN: usize = 16;

/// An opaque, URL-safe session id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh id from `/dev/urandom`.
    pub fn random() -> std::io::Result<SessionId> {
        let mut raw = [0u8; 12];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
        let mut s = String::with_capacity(ID_LEN);
        for group in raw.chunks_exact(3) {
            let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
            for shift in [18, 12, 6, 0] {
                s.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            }
        }
        Ok(SessionId(s))
    }

    /// Accepts a string from outside (a URL path, the database) if it has the shape of an id.
    pub fn parse(s: &str) -> Option<SessionId> {
        (s.len() == ID_LEN && s.bytes().all(|b| ALPHABET.contains(&b)))
            .then(|| SessionId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
            "../../../etc/pas",
            "AAAAAAAAAAAAAAA%",
            "AAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad:?}");
        }
    }
}
