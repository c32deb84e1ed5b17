//! Connection slots: at most `--max-connections` open at once, at most
//! `--max-per-address` from one address and `--max-per-net` from one
//! IPv6 /64 (a host may take any address of its /64), so that no one host can take every slot.
//! The last `--reserved-conns` slots are let in on probation: such a connection is served
//! only if its first request carries a live login (see `server`), so a crowd of unauthenticated
//! connections from many addresses still leaves room for the owner's browser and scripts.
//!
//! Bounded: one map entry per source with a connection open, so never more entries than
//! `--max-connections`. A slot is given back when its [`Slot`] drops.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct SlotLimits {
    pub total: usize,
    pub per_address: usize,
    pub per_net: usize,
    /// The last slots, for connections whose first request carries a live login.
    pub reserved: usize,
}

/// Open connections, in all and per source.
#[derive(Default)]
struct Count {
    open: usize,
    by_address: HashMap<IpAddr, usize>,
    by_net: HashMap<u64, usize>,
}

/// Every connection slot of a server; shared by its accept loops.
pub struct Slots {
    limits: SlotLimits,
    /// Watched, so a stop can wait until every connection has closed.
    count: watch::Sender<Count>,
}

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot is taken.
    Full,
    /// Its address has `--max-per-address` open.
    Address,
    /// Its IPv6 /64 has `--max-per-net` open.
    Net,
}

impl Refusal {
    /// The canned answer (a 503 in the contract's error shape) told before closing.
    pub fn answer(self) -> Vec<u8> {
        let message = match self {
            Refusal::Full => "too many connections, try again later",
            Refusal::Address => "too many connections from your address (--max-per-address)",
            Refusal::Net => "too many connections from your network (--max-per-net)",
        };
        busy(message)
    }
}

/// A 503 `unavailable` answer that closes the connection, as raw bytes.
pub fn busy(message: &str) -> Vec<u8> {
    let body = format!("{{\"error\":{{\"code\":\"unavailable\",\"message\":\"{message}\"}}}}\n");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One taken slot, given back on drop.
pub struct Slot {
    slots: Arc<Slots>,
    source: Option<IpAddr>,
    /// A reserved slot: the connection's first request must carry a live login.
    pub probation: bool,
}

/// The address connections are counted by: an IPv4-mapped IPv6 address is its IPv4 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The /64 an IPv6 address is in (none for IPv4).
fn net_of(ip: IpAddr) -> Option<u64> {
    match ip {
        IpAddr::V6(v6) => u64::try_from(v6.to_bits() >> 64).ok(),
        IpAddr::V4(_) => None,
    }
}

fn held<K: std::hash::Hash + Eq>(map: &HashMap<K, usize>, key: K) -> usize {
    map.get(&key).copied().unwrap_or(0)
}

fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&key);
        }
    }
}

impl Slots {
    pub fn new(limits: SlotLimits) -> Arc<Slots> {
        Arc::new(Slots {
            limits,
            count: watch::Sender::new(Count::default()),
        })
    }

    /// A slot for a connection from `peer` (`None`: a unix socket, counted in the total only),
    /// or why there is none.
    pub fn take(self: &Arc<Self>, peer: Option<IpAddr>) -> Result<Slot, Refusal> {
        let l = self.limits;
        let source = peer.map(canonical);
        let net = source.and_then(net_of);
        let mut out = Err(Refusal::Full);
        self.count.send_if_modified(|c| {
            if c.open >= l.total {
                return false;
            }
            if let Some(a) = source
                && held(&c.by_address, a) >= l.per_address
            {
                out = Err(Refusal::Address);
                return false;
            }
            if let Some(n) = net
                && held(&c.by_net, n) >= l.per_net
            {
                out = Err(Refusal::Net);
                return false;
            }
            let probation = c.open >= l.total.saturating_sub(l.reserved);
            c.open += 1;
            if let Some(a) = source {
                *c.by_address.entry(a).or_insert(0) += 1;
            }
            if let Some(n) = net {
                *c.by_net.entry(n).or_insert(0) += 1;
            }
            out = Ok(Slot {
                slots: self.clone(),
                source,
                probation,
            });
            true
        });
        out
    }

    /// Waits until every slot is given back (every connection closed), at most `limit`.
    pub async fn all_free(&self, limit: Duration) {
        let mut count = self.count.subscribe();
        let _ = tokio::time::timeout(limit, count.wait_for(|c| c.open == 0)).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let source = self.source;
        self.slots.count.send_modify(|c| {
            c.open = c.open.saturating_sub(1);
            if let Some(a) = source {
                release(&mut c.by_address, a);
                if let Some(n) = net_of(a) {
                    release(&mut c.by_net, n);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn caps_per_address_per_net_and_in_all_with_a_reserve() {
        let limits = SlotLimits {
            total: 6,
            per_address: 2,
            per_net: 3,
            reserved: 2,
        };
        let slots = Slots::new(limits);
        let a1 = slots.take(ip("10.0.0.1")).unwrap();
        let a2 = slots.take(ip("::ffff:10.0.0.1")).unwrap();
        assert_eq!(
            slots.take(ip("10.0.0.1")).err(),
            Some(Refusal::Address),
            "a mapped address counts as its IPv4 one"
        );
        let n1 = slots.take(ip("fd00::1")).unwrap();
        let n2 = slots.take(ip("fd00::2")).unwrap();
        assert!(!a1.probation && !a2.probation && !n1.probation && !n2.probation);
        // Four open: the last two slots are the reserve.
        let n3 = slots.take(ip("fd00::3")).unwrap();
        assert!(n3.probation);
        assert_eq!(slots.take(ip("fd00::4")).err(), Some(Refusal::Net));
        let other = slots.take(ip("fd00:0:0:1::4")).unwrap();
        assert!(other.probation);
        assert_eq!(slots.take(None).err(), Some(Refusal::Full));
        drop((a1, n3));
        let unix = slots.take(None).unwrap();
        assert!(unix.probation, "five open: still in the reserve");
        let _n5 = slots
            .take(ip("fd00::5"))
            .expect("a slot of its /64 is free");
        drop(unix);
        let count = slots.count.borrow();
        assert_eq!(count.open, 5);
        assert_eq!(count.by_address.len(), 5);
        assert_eq!(count.by_net.values().sum::<usize>(), 4);
    }

    #[test]
    fn every_slot_comes_back() {
        let slots = Slots::new(SlotLimits {
            total: 3,
            per_address: 3,
            per_net: 3,
            reserved: 0,
        });
        let all: Vec<Slot> = (0..3).map(|_| slots.take(ip("::1")).unwrap()).collect();
        assert_eq!(slots.take(ip("::2")).err(), Some(Refusal::Full));
        drop(all);
        let count = slots.count.borrow();
        assert_eq!(count.open, 0);
        assert!(count.by_address.is_empty() && count.by_net.is_empty());
    }
}
