//! Addresses the operator has blocked for a time (`perudo admin block`): single IPs or whole
//! networks (an IPv6 /64 is one household or one VPS). A blocked client gets `403 blocked`
//! for every request, WebSocket upgrades and room creations included: [`admit`] is one
//! middleware in front of every route, so no handler has to remember the check.
//!
//! Entries expire by themselves; the list lives in memory and is empty after a restart.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The longest block: a year (longer is a firewall rule's job).
pub const MAX_BLOCK: Duration = Duration::from_secs(365 * 86_400);

/// An IP network: an address with its host bits cleared and a prefix length. A single
/// address is a /32 (IPv4) or a /128 (IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// The network of `addr` with `prefix` bits, or why not.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Net, String> {
        let addr = addr.to_canonical();
        let bits = max_prefix(addr);
        if prefix > bits {
            return Err(format!(
                "a prefix of /{prefix} is longer than the {bits} bits of {addr}"
            ));
        }
        Ok(Net {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        max_prefix(ip) == max_prefix(self.addr) && mask(ip, self.prefix) == self.addr
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & kept))
        }
    }
}

/// `203.0.113.7`, `203.0.113.0/24`, `2001:db8::1`, `2001:db8:1:2::/64`.
impl FromStr for Net {
    type Err = String;

    fn from_str(text: &str) -> Result<Net, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            format!(
                "{text:?} is not an IP address or network (e.g. 203.0.113.7, 2001:db8:1:2::/64)"
            )
        })?;
        let prefix = match prefix {
            None => max_prefix(addr.to_canonical()),
            Some(p) => p
                .parse::<u8>()
                .map_err(|_| format!("{text:?}: the prefix length must be a number, got {p:?}"))?,
        };
        Net::new(addr, prefix)
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == max_prefix(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

#[derive(Debug)]
struct Entry {
    net: Net,
    until: Instant,
    reason: String,
}

/// One block as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub net: Net,
    /// How long it still holds.
    pub remaining: Duration,
    pub reason: String,
}

/// The blocked networks. Checked on every request: a short list behind a mutex held only to
/// scan it.
#[derive(Debug, Default)]
pub struct Blocklist {
    entries: Mutex<Vec<Entry>>,
}

impl Blocklist {
    pub fn new() -> Blocklist {
        Blocklist::default()
    }

    /// Blocks `net` for `time` from `now` (replacing a block of the same network), or says why
    /// not.
    pub fn block(
        &self,
        net: Net,
        time: Duration,
        reason: String,
        now: Instant,
    ) -> Result<(), String> {
        if time.is_zero() || time > MAX_BLOCK {
            return Err(format!(
                "a block lasts from 1 second to {} days, got {} s",
                MAX_BLOCK.as_secs() / 86_400,
                time.as_secs()
            ));
        }
        let mut entries = self.entries.lock().expect("blocklist lock");
        entries.retain(|e| e.net != net && e.until > now);
        entries.push(Entry {
            net,
            until: now + time,
            reason,
        });
        Ok(())
    }

    /// Lifts the block of exactly `net`; `false` if there was none.
    pub fn unblock(&self, net: Net, now: Instant) -> bool {
        let mut entries = self.entries.lock().expect("blocklist lock");
        entries.retain(|e| e.until > now);
        let before = entries.len();
        entries.retain(|e| e.net != net);
        entries.len() < before
    }

    /// How long `ip` stays blocked, if it is (the longest of the blocks that hold it).
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let entries = self.entries.lock().expect("blocklist lock");
        entries
            .iter()
            .filter(|e| e.until > now && e.net.contains(ip))
            .map(|e| e.until - now)
            .max()
    }

    /// The blocks in force, in the order they were made.
    pub fn list(&self, now: Instant) -> Vec<Block> {
        let mut entries = self.entries.lock().expect("blocklist lock");
        entries.retain(|e| e.until > now);
        entries
            .iter()
            .map(|e| Block {
                net: e.net,
                remaining: e.until - now,
                reason: e.reason.clone(),
            })
            .collect()
    }
}

/// Middleware in front of every route: a request from a blocked address (as resolved through
/// the trusted proxies) is answered `403 blocked` and goes no further.
pub async fn admit(State(state): State<crate::AppState>, request: Request, next: Next) -> Response {
    // Without a peer address (a router driven in-process) there is nothing to check.
    let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    else {
        return next.run(request).await;
    };
    let ip = state.client_ip(peer, request.headers());
    match state.blocklist().blocked(ip, Instant::now()) {
        None => next.run(request).await,
        Some(remaining) => {
            crate::metrics::rate_limited("blocklist");
            tracing::debug!(%ip, "blocked address refused");
            crate::ApiFailure::new(
                StatusCode::FORBIDDEN,
                "blocked",
                format!(
                    "this address is blocked by the server's operator for another {} s",
                    remaining.as_secs().max(1)
                ),
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Net {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn networks_parse_mask_and_print() {
        assert_eq!(net("203.0.113.7").to_string(), "203.0.113.7");
        assert_eq!(net("203.0.113.7/24").to_string(), "203.0.113.0/24");
        assert_eq!(
            net("2001:db8:1:2:3:4:5:6/64").to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(net("::ffff:198.51.100.1").to_string(), "198.51.100.1");
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
        for (bad, why) in [
            ("perudo.example.org", "is not an IP address or network"),
            ("203.0.113.7/33", "longer than the 32 bits"),
            ("2001:db8::/129", "longer than the 128 bits"),
            ("203.0.113.7/x", "must be a number"),
            ("", "is not an IP address"),
        ] {
            let error = bad.parse::<Net>().expect_err(bad);
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn a_network_holds_its_addresses_only() {
        let home = net("2001:db8:1:2::/64");
        assert!(home.contains(ip("2001:db8:1:2::1")));
        assert!(home.contains(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert!(!home.contains(ip("2001:db8:1:3::1")));
        assert!(!home.contains(ip("203.0.113.7")));
        let one = net("203.0.113.7");
        assert!(one.contains(ip("203.0.113.7")));
        assert!(
            one.contains(ip("::ffff:203.0.113.7")),
            "an IPv4-mapped address"
        );
        assert!(!one.contains(ip("203.0.113.8")));
        assert!(net("0.0.0.0/0").contains(ip("198.51.100.1")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")));
    }

    #[test]
    fn blocks_hold_for_their_time_and_can_be_lifted() {
        let list = Blocklist::new();
        let start = Instant::now();
        let later = |secs| start + Duration::from_secs(secs);
        list.block(
            net("2001:db8:1:2::/64"),
            Duration::from_secs(60),
            "spam".into(),
            start,
        )
        .expect("a block");
        list.block(
            net("203.0.113.7"),
            Duration::from_secs(10),
            String::new(),
            start,
        )
        .expect("a block");
        assert_eq!(
            list.blocked(ip("2001:db8:1:2::99"), later(15)),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            list.blocked(ip("203.0.113.7"), later(5)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(list.blocked(ip("203.0.113.7"), later(10)), None, "expired");
        assert_eq!(list.blocked(ip("203.0.113.8"), later(1)), None);
        assert_eq!(
            list.list(later(20)),
            [Block {
                net: net("2001:db8:1:2::/64"),
                remaining: Duration::from_secs(40),
                reason: "spam".into()
            }]
        );
        // Blocking again replaces the time; unblocking lifts exactly that network.
        list.block(
            net("2001:db8:1:2::/64"),
            Duration::from_secs(5),
            "again".into(),
            later(20),
        )
        .expect("a block");
        assert_eq!(list.list(later(20)).len(), 1);
        assert!(!list.unblock(net("2001:db8:1:3::/64"), later(21)));
        assert!(list.unblock(net("2001:db8:1:2::/64"), later(21)));
        assert_eq!(list.blocked(ip("2001:db8:1:2::99"), later(21)), None);
        assert!(
            !list.unblock(net("2001:db8:1:2::/64"), later(21)),
            "already lifted"
        );
    }

    #[test]
    fn a_block_lasts_one_second_to_a_year() {
        let list = Blocklist::new();
        let now = Instant::now();
        for bad in [Duration::ZERO, MAX_BLOCK + Duration::from_secs(1)] {
            let error = list
                .block(net("203.0.113.7"), bad, String::new(), now)
                .expect_err("out of range");
            assert!(error.contains("from 1 second to 365 days"), "{error}");
        }
        assert!(list.list(now).is_empty(), "a refused block changes nothing");
    }
}
