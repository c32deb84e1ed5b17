//! Access control: the one place that decides whether a request may pass.
//!
//! Until logins exist (`lanterm passwd`, tokens), the service answers only when started with
//! `--no-auth`, and `--no-auth` is refused unless every listen address is loopback (or a unix
//! socket, which is reachable only from the board itself). Everything else gets 401.

use std::net::IpAddr;

use crate::config::Listen;
use crate::error::{Code, Error};

/// Decides, per request, whether the caller is allowed in.
#[derive(Debug, Clone)]
pub struct Gate {
    no_auth: bool,
}

impl Gate {
    pub fn new(no_auth: bool) -> Gate {
        Gate { no_auth }
    }

    /// `Ok` when the request carries acceptable credentials (or none are needed).
    pub fn check(&self, _headers: &hyper::HeaderMap) -> Result<(), Error> {
        if self.no_auth {
            return Ok(());
        }
        Err(Error::new(
            Code::Unauthorized,
            "credentials required; this build has no logins yet, so start the service with \
             --no-auth on a loopback address to use it",
        ))
    }
}

/// Refuses `--no-auth` unless nothing but this machine can reach the service.
pub fn check_no_auth(no_auth: bool, listen: &[Listen]) -> Result<(), String> {
    if !no_auth {
        return Ok(());
    }
    let exposed: Vec<String> = listen
        .iter()
        .filter(|l| match l {
            Listen::Tcp(addr) => !is_loopback(addr.ip()),
            Listen::Unix(_) => false,
        })
        .map(ToString::to_string)
        .collect();
    if exposed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "lanterm: --no-auth: refused while listening on {} (not loopback); \
         use --listen 127.0.0.1:7700 with --no-auth",
        exposed.join(", ")
    ))
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> Listen {
        Listen::Tcp(s.parse().unwrap())
    }

    #[test]
    fn no_auth_only_on_loopback() {
        assert!(check_no_auth(false, &[tcp("0.0.0.0:7700")]).is_ok());
        assert!(check_no_auth(true, &[tcp("127.0.0.1:7700"), tcp("[::1]:7700")]).is_ok());
        assert!(check_no_auth(true, &[Listen::Unix("/run/l.sock".into())]).is_ok());
        let err = check_no_auth(true, &[tcp("127.0.0.1:1"), tcp("0.0.0.0:7700")]).unwrap_err();
        assert!(
            err.contains("--no-auth") && err.contains("0.0.0.0:7700"),
            "{err}"
        );
        assert!(check_no_auth(true, &[tcp("[::]:7700")]).is_err());
        assert!(check_no_auth(true, &[tcp("192.168.1.5:7700")]).is_err());
    }

    #[test]
    fn without_no_auth_everything_needs_credentials() {
        let err = Gate::new(false)
            .check(&hyper::HeaderMap::new())
            .unwrap_err();
        assert_eq!(err.code, Code::Unauthorized);
        assert!(Gate::new(true).check(&hyper::HeaderMap::new()).is_ok());
    }
}
