//! Where a browser request comes from: the `Origin` and `Host` rules that stop cross-site
//! WebSocket hijacking and request forgery (an `Origin` must name the scheme, host and port the
//! browser asked for, or an allowed origin) and, without logins, DNS rebinding (the `Host` must
//! be a loopback name, since a rebinding page's requests carry the attacker's host name).
//!
//! Ports are compared as *effective* ports: a `Host` or origin without one means 80 for http
//! and 443 for https, so a page on another port of the same host (`http://board:8080`) is
//! another origin even when the service is reached as plain `board` behind a reverse proxy.

use hyper::HeaderMap;
use hyper::header::ORIGIN;

use super::{Gate, Peer, header};

/// How a request reached the service: plain HTTP (possibly from a TLS-terminating reverse
/// proxy, which the service cannot tell apart) or the service's own TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

/// A host and port, lowercased; the port is `None` when not written.
#[derive(Debug, PartialEq, Eq)]
struct HostPort<'a> {
    host: &'a str,
    port: Option<u16>,
}

/// Splits `host[:port]` (IPv6 in brackets). `None` when malformed.
fn host_port(s: &str) -> Option<HostPort<'_>> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']')?;
        let (host, rest) = s.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    let ok_host = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    ok_host.then_some(HostPort { host, port })
}

/// An origin `scheme://host[:port]` (lowercase): its scheme, host and effective port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Origin<'a> {
    https: bool,
    host: &'a str,
    port: u16,
}

impl Origin<'_> {
    fn parse(origin: &str) -> Option<Origin<'_>> {
        let (rest, https) = match origin.strip_prefix("http://") {
            Some(rest) => (rest, false),
            None => (origin.strip_prefix("https://")?, true),
        };
        let hp = host_port(rest)?;
        let default = if https { 443 } else { 80 };
        Some(Origin {
            https,
            host: hp.host,
            port: hp.port.unwrap_or(default),
        })
    }

    /// Whether this origin is the service reached as `host` over `transport`. Over the
    /// service's own TLS the origin must be https, and a `Host` without a port means 443.
    /// Over plain HTTP the service may sit behind a proxy that speaks either scheme, so a
    /// `Host` without a port matches `http://host` (port 80) and `https://host` (443), and one
    /// with a port matches that port only.
    fn served_as(self, host: &HostPort<'_>, transport: Transport) -> bool {
        if self.host != host.host {
            return false;
        }
        match (transport, host.port) {
            (Transport::Tls, _) if !self.https => false,
            (_, Some(port)) => self.port == port,
            (Transport::Tls, None) => self.port == 443,
            (Transport::Plain, None) => self.port == if self.https { 443 } else { 80 },
        }
    }
}

/// Whether the browser origin `origin` may act on this service, reached as `host` (the `Host`
/// header) over `transport`: the same scheme, host and effective port (see
/// [`Origin::served_as`]), or one of `allowed` (lowercase, from `--allowed-origin`), compared
/// the same way. `null` and anything but http(s) never match.
pub fn origin_allowed(
    origin: &str,
    host: Option<&str>,
    allowed: &[String],
    transport: Transport,
) -> bool {
    let origin = origin.trim().to_ascii_lowercase();
    let Some(o) = Origin::parse(&origin) else {
        return false;
    };
    if allowed.iter().any(|a| Origin::parse(a) == Some(o)) {
        return true;
    }
    let Some(host) = host else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    host_port(&host).is_some_and(|h| o.served_as(&h, transport))
}

/// Whether a `Host` header names this machine's loopback: `localhost` (or a name under
/// `.localhost`), `127.0.0.0/8` or `[::1]`, with any port. What `--no-auth` answers to.
pub fn host_is_loopback(host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let Some(hp) = host_port(&host) else {
        return false;
    };
    let name = hp.host.trim_end_matches('.');
    name == "localhost"
        || name.ends_with(".localhost")
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a `Host` header names one of the `allowed` origins (scheme, host and effective port,
/// as [`origin_allowed`] compares them).
pub fn host_in_allowed(host: &str, allowed: &[String], transport: Transport) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let Some(h) = host_port(&host) else {
        return false;
    };
    allowed
        .iter()
        .any(|a| Origin::parse(a).is_some_and(|o| o.served_as(&h, transport)))
}

/// How a request reached the service, and what follows for the answer.
impl Gate {
    /// How `peer`'s requests arrive: over the service's own TLS (TCP when `--tls-cert` is
    /// given) or plain (unix sockets, or no TLS).
    pub(super) fn transport(&self, peer: Peer) -> Transport {
        match peer {
            Peer::Tcp(_) if self.tls => Transport::Tls,
            _ => Transport::Plain,
        }
    }

    /// Whether a login cookie for this request must be `Secure` (and so `__Host-`): over the
    /// service's own TLS, or asked for by a page on `https://` (behind a TLS-terminating
    /// proxy; a browser refuses `Secure` cookies from plain-HTTP pages, so a page reached on
    /// plain HTTP gets the plain cookie).
    pub fn https_page(&self, headers: &HeaderMap, peer: Peer) -> bool {
        self.over_tls(peer)
            || header(headers, ORIGIN)
                .is_some_and(|o| o.trim().to_ascii_lowercase().starts_with("https://"))
    }

    /// Whether `peer`'s requests arrive over the service's own TLS.
    pub fn over_tls(&self, peer: Peer) -> bool {
        self.transport(peer) == Transport::Tls
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transport::{Plain, Tls};

    #[test]
    fn same_origin_is_allowed_cross_origin_is_not() {
        let none: &[String] = &[];
        let cases = [
            ("http://pi.local:7700", "pi.local:7700", true),
            ("http://PI.local:7700", "pi.LOCAL:7700", true),
            ("https://pi.example", "pi.example", true),
            ("http://pi.example", "pi.example", true),
            ("http://[::1]:7700", "[::1]:7700", true),
            ("http://192.168.1.5:7700", "192.168.1.5:7700", true),
            ("http://evil.example", "pi.local:7700", false),
            ("http://pi.local:8080", "pi.local:7700", false),
            ("http://pi.local", "pi.local:7700", false),
            ("http://pi.local.evil.example:7700", "pi.local:7700", false),
            ("null", "pi.local:7700", false),
            ("file://", "pi.local", false),
            ("http://pi.local:7700", "pi.local:99999", false),
            ("", "pi.local", false),
        ];
        for (origin, host, ok) in cases {
            assert_eq!(
                origin_allowed(origin, Some(host), none, Plain),
                ok,
                "{origin} vs {host}"
            );
        }
        assert!(!origin_allowed("http://pi.local", None, none, Plain));
    }

    /// The cross-port hijack: behind a proxy the `Host` has no port, and a page on another port
    /// of the same host is another origin.
    #[test]
    fn a_portless_host_means_the_default_port_of_the_scheme() {
        let none: &[String] = &[];
        let plain = [
            ("http://board", "board", true),
            ("http://board:80", "board", true),
            ("https://board", "board", true), // a TLS-terminating proxy
            ("https://board:443", "board", true),
            ("http://board:8080", "board", false),
            ("https://board:8443", "board", false),
            ("http://board:443", "board", false),
            ("https://board:80", "board", false),
            ("http://board", "board:80", true),
            ("http://board", "board:8080", false),
            ("https://board:8443", "board:8443", true), // a proxy on 8443 passing its Host on
        ];
        for (origin, host, ok) in plain {
            assert_eq!(
                origin_allowed(origin, Some(host), none, Plain),
                ok,
                "plain: {origin} vs {host}"
            );
        }
        // The service's own TLS: only https origins, and no port means 443.
        let tls = [
            ("https://board", "board", true),
            ("https://board:443", "board", true),
            ("https://board:7700", "board:7700", true),
            ("http://board", "board", false),
            ("http://board:7700", "board:7700", false),
            ("https://board:8443", "board", false),
            ("https://board", "board:7700", false),
        ];
        for (origin, host, ok) in tls {
            assert_eq!(
                origin_allowed(origin, Some(host), none, Tls),
                ok,
                "tls: {origin} vs {host}"
            );
        }
    }

    #[test]
    fn allowed_origins_compare_scheme_host_and_effective_port() {
        let allowed = ["https://term.example.com".to_string()];
        let host = Some("127.0.0.1:7700");
        for (origin, ok) in [
            ("https://term.example.com", true),
            ("https://TERM.example.com:443", true),
            ("https://term.example.com:8443", false),
            ("http://term.example.com", false),
            ("http://term.example.com:443", false),
            ("https://other.example.com", false),
        ] {
            assert_eq!(
                origin_allowed(origin, host, &allowed, Plain),
                ok,
                "{origin}"
            );
        }
        let with_port = ["http://term.example:8080".to_string()];
        assert!(origin_allowed(
            "http://term.example:8080",
            host,
            &with_port,
            Plain
        ));
        assert!(!origin_allowed(
            "http://term.example",
            host,
            &with_port,
            Plain
        ));
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:7700",
            "127.0.0.1:1",
            "127.9.9.9",
            "[::1]:7700",
            "a.localhost",
        ] {
            assert!(host_is_loopback(host), "{host}");
        }
        for host in [
            "evil.example:7700",
            "192.168.1.5:7700",
            "localhost.evil.example",
            "",
            "[::2]",
            "127.0.0.1.nip.io",
        ] {
            assert!(!host_is_loopback(host), "{host}");
        }
    }

    #[test]
    fn hosts_of_allowed_origins() {
        let allowed = ["https://pi.example".to_string()];
        for (host, transport, ok) in [
            ("pi.example", Plain, true),
            ("pi.example:443", Plain, true),
            ("pi.example", Tls, true),
            ("pi.example:7700", Plain, false),
            ("pi.example:8080", Tls, false),
            ("other.example", Plain, false),
        ] {
            assert_eq!(host_in_allowed(host, &allowed, transport), ok, "{host}");
        }
        let plain_http = ["http://pi.example".to_string()];
        assert!(host_in_allowed("pi.example", &plain_http, Plain));
        assert!(!host_in_allowed("pi.example", &plain_http, Tls));
        assert!(!host_in_allowed("pi.example:8080", &plain_http, Plain));
    }
}
