//! The text syntax of single setting values: sizes, durations, listen addresses, paths, user
//! names and booleans, parsed leniently and formatted back for help and error messages.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::Listen;

pub(super) const KIB: u64 = 1 << 10;
pub(super) const MIB: u64 = 1 << 20;
pub(super) const GIB: u64 = 1 << 30;

pub(super) fn parse_listen(s: &str) -> Option<Listen> {
    if let Some(path) = s.strip_prefix("unix:") {
        let ok = path.starts_with('/') && path.len() < 108 && !path.contains('\0');
        return ok.then(|| Listen::Unix(PathBuf::from(path)));
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        let port = port.parse().ok()?;
        return Some(Listen::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, port))));
    }
    s.parse().ok().map(Listen::Tcp)
}

pub(super) fn parse_path(s: &str) -> Option<PathBuf> {
    (!s.is_empty() && !s.contains('\0')).then(|| PathBuf::from(s))
}

pub(super) fn parse_user(s: &str) -> Option<String> {
    let ok = (1..=32).contains(&s.len()) && !s.contains(|c: char| c == '/' || c.is_control());
    ok.then(|| s.to_string())
}

/// A browser origin, `http://` or `https://` then a host (name, IPv4 or `[IPv6]`) and an
/// optional port, with nothing after it; returned lowercased, as browsers send it.
pub fn parse_origin(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))?;
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.len() <= 253
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
    };
    let port_ok = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    let ok = match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => host_ok(host) && port_ok(port),
        _ => host_ok(rest),
    };
    ok.then_some(lower)
}

pub(super) fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Leading decimal digits and the rest, trimmed and lowercased.
fn split_number(s: &str) -> Option<(u64, String)> {
    let s = s.trim();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at_checked(end)?;
    Some((digits.parse().ok()?, unit.trim_start().to_ascii_lowercase()))
}

/// A byte count: "4096", "64KiB", "64K", "8MiB", "8MB", "1G" (binary units, any case).
pub fn parse_size(s: &str) -> Option<u64> {
    let (n, unit) = split_number(s)?;
    let mult = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => KIB,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// A duration: "0", "250ms", "1s", "5m", "2h", "30d"; a bare number is seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (n, unit) = split_number(s)?;
    let mult = match unit.as_str() {
        "ms" => return Some(Duration::from_millis(n)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(mult).map(Duration::from_secs)
}

/// `n` in the largest of `units` (largest first) that divides it, for help and messages.
fn fmt_units(n: u64, units: &[(&str, u64)]) -> String {
    match units.iter().find(|&&(_, m)| n >= m && n.is_multiple_of(m)) {
        Some((unit, m)) => format!("{}{unit}", n / m),
        None => n.to_string(),
    }
}

pub(super) fn fmt_size(n: u64) -> String {
    fmt_units(n, &[("GiB", GIB), ("MiB", MIB), ("KiB", KIB)])
}

pub fn fmt_duration(d: Duration) -> String {
    const UNITS: &[(&str, u64)] = &[("d", 86400), ("h", 3600), ("m", 60), ("s", 1)];
    match d.subsec_millis() {
        0 => fmt_units(d.as_secs(), UNITS),
        _ => format!("{}ms", d.as_millis()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        let sizes = "4096=4096 64KiB=65536 64k=65536 8MiB=8388608 8mb=8388608 1G=1073741824 1gib=1073741824";
        for (s, n) in sizes.split(' ').filter_map(|case| case.split_once('=')) {
            assert_eq!(parse_size(s), n.parse().ok(), "{s}");
        }
        for s in "-1 1.5M 1T K 99999999999999999999GiB 17179869184GiB １ ".split(' ') {
            assert_eq!(parse_size(s), None, "{s}");
        }
        let durations = "0=0 250ms=250 1s=1000 90=90000 5m=300000 2h=7200000 30d=2592000000";
        for (s, ms) in durations.split(' ').filter_map(|case| case.split_once('=')) {
            assert_eq!(
                parse_duration(s),
                ms.parse().ok().map(Duration::from_millis),
                "{s}"
            );
        }
        for s in "fast -1s 1.5s 1w 99999999999999999999s 999999999999999999d ".split(' ') {
            assert_eq!(parse_duration(s), None, "{s}");
        }
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(fmt_duration(Duration::ZERO), "0");
        assert_eq!(fmt_size(1000), "1000");
    }
}
