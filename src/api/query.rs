//! Query strings: `a=1&b=two` split and percent-decoded, leniently (unknown keys are ignored,
//! the last of a repeated key wins), with typed getters whose errors name the parameter.

use std::collections::HashMap;

use crate::model::error::Error;

/// The decoded parameters of one request.
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut map = HashMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k), decode(v));
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// An optional non-negative integer (an output offset).
    pub fn offset(&self, key: &str) -> Result<Option<u64>, Error> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Error::bad_request(format!("{key} must be a non-negative integer, not {v:?}"))
            }),
        }
    }

    /// One of `allowed`, or `default` when absent.
    pub fn one_of<'a>(
        &'a self,
        key: &str,
        allowed: &[&str],
        default: &'a str,
    ) -> Result<&'a str, Error> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) if allowed.contains(&v) => Ok(v),
            Some(v) => Err(Error::bad_request(format!(
                "{key} must be one of {}, not {v:?}",
                allowed.join(", ")
            ))),
        }
    }
}

/// Percent-decoding (and `+` as space); invalid escapes are kept as they are, and the result
/// is made valid UTF-8 (lossily), so no input can fail here.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match b {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decodes_and_checks() {
        let q = Query::parse(Some(
            "from=10&to=&format=text&x=%2e%2E%2F+a&bad=%zz%4&from=12",
        ));
        assert_eq!(q.offset("from").unwrap(), Some(12));
        assert_eq!(q.offset("to").unwrap(), None);
        assert_eq!(q.get("x"), Some("../ a"));
        assert_eq!(q.get("bad"), Some("%zz%4"));
        assert_eq!(q.one_of("format", &["raw", "text"], "raw").unwrap(), "text");
        assert_eq!(q.one_of("mode", &["rw", "ro"], "rw").unwrap(), "rw");
        let q = Query::parse(Some("from=-1&mode=rx&n=%ff%fe"));
        assert!(q.offset("from").unwrap_err().message.contains("from"));
        assert!(q.one_of("mode", &["rw", "ro"], "rw").is_err());
        assert_eq!(q.get("n"), Some("\u{fffd}\u{fffd}"));
        assert!(Query::parse(None).get("a").is_none());
    }
}
