//! Credentials a request presents: `Authorization: Bearer <token>` (scripts, the CLI) or the
//! login cookie (the browser): `__Host-lanterm_session` when it was set over HTTPS, else
//! `lanterm_session`. Parsing only; whether they are valid is `keys`' job.

use hyper::HeaderMap;
use hyper::header::{AUTHORIZATION, COOKIE};

use super::token::{self, COOKIE_NAME, SECURE_COOKIE_NAME};

/// What a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
    Nothing,
}

/// Finds the credentials in `headers`. A bearer token wins over a cookie. An `Authorization`
/// header that is not a well-formed bearer token is an error (the message says what is
/// expected); a cookie that is not well formed is ignored, as browsers keep stale cookies.
pub fn presented(headers: &HeaderMap) -> Result<Presented<'_>, &'static str> {
    const BAD: &str = "the Authorization header must be \"Bearer <token>\" with a token from \
                       POST /api/login";
    let mut auth = headers.get_all(AUTHORIZATION).iter();
    if let Some(value) = auth.next() {
        if auth.next().is_some() {
            return Err("more than one Authorization header");
        }
        let value = value.to_str().map_err(|_| BAD)?.trim();
        let (scheme, rest) = value.split_once(' ').ok_or(BAD)?;
        let secret = rest.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || !token::well_formed(secret) {
            return Err(BAD);
        }
        return Ok(Presented::Bearer(secret));
    }
    // The `__Host-` cookie first: a plain-HTTP page cannot have planted it.
    for name in [SECURE_COOKIE_NAME, COOKIE_NAME] {
        if let Some(secret) = cookie(headers, name) {
            return Ok(Presented::Cookie(secret));
        }
    }
    Ok(Presented::Nothing)
}

/// The first well-formed token in a cookie called `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    for value in headers.get_all(COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((n, secret)) = pair.trim().split_once('=')
                && n.trim() == name
                && token::well_formed(secret.trim())
            {
                return Some(secret.trim());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    const T: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            let name: hyper::header::HeaderName = k.parse().unwrap();
            h.append(name, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_and_cookie() {
        let bearer = format!("Bearer {T}");
        let h = headers(&[("authorization", bearer.as_bytes())]);
        assert_eq!(presented(&h), Ok(Presented::Bearer(T)));
        let lower = format!("bearer   {T} ");
        let h = headers(&[("authorization", lower.as_bytes())]);
        assert_eq!(presented(&h), Ok(Presented::Bearer(T)));
        let cookie = format!("theme=dark; {COOKIE_NAME}=short; {COOKIE_NAME}={T}");
        let h = headers(&[("cookie", b"a=b"), ("cookie", cookie.as_bytes())]);
        assert_eq!(presented(&h), Ok(Presented::Cookie(T)));
        let both = headers(&[
            ("cookie", cookie.as_bytes()),
            ("authorization", bearer.as_bytes()),
        ]);
        assert_eq!(presented(&both), Ok(Presented::Bearer(T)));
        assert_eq!(presented(&HeaderMap::new()), Ok(Presented::Nothing));
        let u = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
        let both = format!("{COOKIE_NAME}={T}; {SECURE_COOKIE_NAME}={u}");
        let h = headers(&[("cookie", both.as_bytes())]);
        assert_eq!(presented(&h), Ok(Presented::Cookie(u)), "__Host- wins");
    }

    #[test]
    fn malformed_authorization_is_an_error_malformed_cookies_are_not() {
        let bad: &[&[u8]] = &[
            b"Basic dXNlcjpwYXNz",
            b"Bearer",
            b"Bearer short",
            b"\xff\xfe",
            b"Bearer ",
        ];
        for value in bad {
            assert!(
                presented(&headers(&[("authorization", value)])).is_err(),
                "{value:?}"
            );
        }
        let two = format!("Bearer {T}");
        let h = headers(&[
            ("authorization", two.as_bytes()),
            ("authorization", two.as_bytes()),
        ]);
        assert!(presented(&h).is_err());
        for value in [
            &b"lanterm_session="[..],
            b"lanterm_session",
            b"\xff=\xff",
            b";;;=",
        ] {
            assert_eq!(
                presented(&headers(&[("cookie", value)])),
                Ok(Presented::Nothing)
            );
        }
    }
}
