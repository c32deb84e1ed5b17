//! Where a browser request comes from: the `Origin` and `Host` rules that stop cross-site
//! WebSocket hijacking and request forgery (an `Origin` must name the host the browser asked
//! for, or an allowed origin) and, without logins, DNS rebinding (the `Host` must be a loopback
//! name, since a rebinding page's requests carry the attacker's host name).

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

/// Splits an origin `scheme://host[:port]` into its host and effective port.
fn origin_parts(origin: &str) -> Option<(HostPort<'_>, u16)> {
    let (rest, default) = if let Some(rest) = origin.strip_prefix("http://") {
        (rest, 80)
    } else {
        (origin.strip_prefix("https://")?, 443)
    };
    let hp = host_port(rest)?;
    let port = hp.port.unwrap_or(default);
    Some((hp, port))
}

/// Whether the browser origin `origin` may act on this service, reached as `host` (the `Host`
/// header). Same host name, and the same port when `Host` names one (a `Host` without a port
/// matches the origin's default port, as behind a reverse proxy on 80 or 443). Origins in
/// `allowed` (lowercase, from `--allowed-origin`) always may. `null` never matches.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let origin = origin.trim().to_ascii_lowercase();
    if allowed.contains(&origin) {
        return true;
    }
    let (Some((o, o_port)), Some(host)) = (origin_parts(&origin), host) else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    let Some(h) = host_port(&host) else {
        return false;
    };
    o.host == h.host && h.port.is_none_or(|p| p == o_port)
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

/// Whether a `Host` header names the host of one of the `allowed` origins.
pub fn host_in_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let Some(h) = host_port(&host) else {
        return false;
    };
    allowed.iter().any(|a| {
        origin_parts(a)
            .is_some_and(|(o, o_port)| o.host == h.host && h.port.is_none_or(|p| p == o_port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
                origin_allowed(origin, Some(host), none),
                ok,
                "{origin} vs {host}"
            );
        }
        assert!(!origin_allowed("http://pi.local", None, none));
        let allowed = ["https://term.example.com".to_string()];
        assert!(origin_allowed(
            "https://term.example.com",
            Some("127.0.0.1:7700"),
            &allowed
        ));
        assert!(!origin_allowed(
            "https://other.example.com",
            Some("127.0.0.1:7700"),
            &allowed
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
        let allowed = ["https://pi.example".to_string()];
        assert!(
            host_in_allowed("pi.example", &allowed) && host_in_allowed("pi.example:443", &allowed)
        );
        assert!(!host_in_allowed("pi.example:7700", &allowed));
    }
}
