//! What a client may do, and the state that enforces it: per-connection message rates,
//! per-IP rates of new connections and new rooms (governor's keyed rate limiters), caps on
//! open connections, heartbeats and idle timeouts, allowed origins, and where the client's IP
//! comes from behind a proxy.
//!
//! Every limit is on by default; for the rates and connection caps, `0` turns one off.
//! Their command-line flags are [`LimitArgs`], flattened into `perudo serve`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::HeaderMap;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A slow-down older than this is forgiven: the count towards the close starts again.
pub const SLOW_DOWN_MEMORY: Duration = Duration::from_secs(10);

/// Every limit the server enforces on clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Frames one WebSocket connection may send per second, sustained (`0`: no limit).
    pub messages_per_sec: u32,
    /// Frames one connection may send at once before the sustained rate applies.
    pub message_burst: u32,
    /// `SlowDown` rejections a connection gets (each within `SLOW_DOWN_MEMORY` of the last)
    /// before the next frame over the rate closes it with 1008.
    pub slow_downs_before_close: u32,
    /// New WebSocket connections per minute from one IP, in bursts of as many (`0`: no limit).
    pub connects_per_ip_per_min: u32,
    /// Rooms created per minute from one IP, in bursts of as many (`0`: no limit).
    pub rooms_per_ip_per_min: u32,
    /// Most WebSocket connections open at once (`0`: no cap).
    pub max_connections: usize,
    /// Most WebSocket connections open at once from one IP (`0`: no cap).
    pub max_connections_per_ip: usize,
    /// The server pings each WebSocket this often (`ZERO`: never).
    pub ping_interval: Duration,
    /// A connection from which nothing (no frame, no pong, no HTTP byte) arrived for this
    /// long while the server waited to read is closed (`ZERO`: never).
    pub idle_timeout: Duration,
    /// Origins (`scheme://host[:port]`) allowed to open a WebSocket; empty: any origin.
    pub allowed_origins: Vec<String>,
    /// Peers (reverse proxies) whose `X-Forwarded-For` header names the client's IP; empty:
    /// the header is ignored and the peer address is the client's.
    pub trusted_proxies: Vec<IpNet>,
    /// IPv6 clients are counted per network of this prefix length (`/64`: one subscriber's
    /// network), since one subscriber has billions of addresses; IPv4 per address.
    pub ipv6_prefix_len: u8,
    /// Most TCP connections (of any kind, before HTTP) open at once from one client network;
    /// trusted proxies are exempt (`0`: no cap).
    pub max_tcp_per_ip: usize,
    /// A WebSocket that has not said `Hello` this long after it opened is closed (`ZERO`:
    /// never).
    pub hello_timeout: Duration,
    /// Most spectators per room.
    pub max_spectators: u32,
}

/// The proxies trusted by default: this machine (loopback), where the shipped Caddy and nginx
/// configurations run. A peer elsewhere is the client itself, whatever it claims.
pub const DEFAULT_TRUSTED_PROXIES: [&str; 2] = ["127.0.0.1/32", "::1/128"];

impl Default for Limits {
    fn default() -> Self {
        Limits {
            messages_per_sec: 10,
            message_burst: 20,
            slow_downs_before_close: 10,
            connects_per_ip_per_min: 60,
            rooms_per_ip_per_min: 20,
            max_connections: 10_000,
            max_connections_per_ip: 50,
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            allowed_origins: Vec::new(),
            trusted_proxies: DEFAULT_TRUSTED_PROXIES
                .iter()
                .map(|n| n.parse().expect("a valid network"))
                .collect(),
            ipv6_prefix_len: 64,
            max_tcp_per_ip: 100,
            hello_timeout: Duration::from_secs(10),
            max_spectators: 50,
        }
    }
}

impl Limits {
    /// No rate limits and no caps on connections (spectators and heartbeats as by default):
    /// for load tests against a server on the same machine.
    pub fn unlimited() -> Limits {
        Limits {
            messages_per_sec: 0,
            connects_per_ip_per_min: 0,
            rooms_per_ip_per_min: 0,
            max_connections: 0,
            max_connections_per_ip: 0,
            max_tcp_per_ip: 0,
            ..Limits::default()
        }
    }

    /// Checks that the limits make sense together, naming the setting that does not.
    pub fn validate(&self) -> Result<(), LimitsError> {
        if self.messages_per_sec > 0 && self.message_burst == 0 {
            return Err(LimitsError::NoBurst);
        }
        if !self.ping_interval.is_zero()
            && !self.idle_timeout.is_zero()
            && self.idle_timeout <= self.ping_interval
        {
            return Err(LimitsError::IdleWithinPing {
                ping: self.ping_interval,
                idle: self.idle_timeout,
            });
        }
        if !(1..=128).contains(&self.ipv6_prefix_len) {
            return Err(LimitsError::Ipv6PrefixLen(self.ipv6_prefix_len));
        }
        for origin in &self.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(LimitsError::Origin(origin.clone()));
            }
        }
        Ok(())
    }

    /// The per-connection part, for a connection's reader and writer.
    pub fn per_connection(&self) -> ConnectionLimits {
        ConnectionLimits {
            messages_per_sec: self.messages_per_sec,
            message_burst: self.message_burst,
            slow_downs_before_close: self.slow_downs_before_close,
            ping_interval: self.ping_interval,
            idle_timeout: self.idle_timeout,
            hello_timeout: self.hello_timeout,
        }
    }

    /// Whether `peer` is one of the trusted proxies.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        is_trusted(peer.to_canonical(), &self.trusted_proxies)
    }

    /// The key under which `ip` is counted: the address itself for IPv4, its network of
    /// `ipv6_prefix_len` bits for IPv6.
    pub fn client_key(&self, ip: IpAddr) -> IpAddr {
        client_key(ip, self.ipv6_prefix_len)
    }
}

/// `ip` as counted by the per-client limits: IPv4 (and IPv4-mapped IPv6) as the address, other
/// IPv6 addresses as their network of `prefix_len` bits.
pub fn client_key(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u32::from(prefix_len.min(128));
            let mask = if keep == 0 {
                0
            } else {
                u128::MAX << (128 - keep)
            };
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// The origin (`scheme://host[:port]`, lowercase) of a URL such as the public URL, if it has one.
pub fn origin_of(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty()
        || !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
    {
        return None;
    }
    Some(format!("{scheme}://{host}").to_ascii_lowercase())
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| match (net, ip) {
        (IpNet::V4(net), IpAddr::V4(ip)) => net.contains(&ip),
        (IpNet::V6(net), IpAddr::V6(ip)) => net.contains(&ip),
        (IpNet::V6(net), IpAddr::V4(ip)) => net.contains(&ip.to_ipv6_mapped()),
        (IpNet::V4(_), IpAddr::V6(_)) => false,
    })
}

/// One entry of `--trusted-proxies`: a network (`10.0.0.0/8`), an address (`10.0.0.1`, which
/// is its own network), or `none` (trust nobody: turns off the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustedProxy {
    Net(IpNet),
    None,
}

impl std::str::FromStr for TrustedProxy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("none") {
            return Ok(TrustedProxy::None);
        }
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(TrustedProxy::Net(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| TrustedProxy::Net(IpNet::from(ip.to_canonical())))
            .map_err(|_| {
                format!(
                    "expected an address (127.0.0.1), a network (172.16.0.0/12) or none, got {s:?}"
                )
            })
    }
}

impl std::fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrustedProxy::Net(net) => net.fmt(f),
            TrustedProxy::None => f.write_str("none"),
        }
    }
}

/// The limits one WebSocket connection enforces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub messages_per_sec: u32,
    pub message_burst: u32,
    pub slow_downs_before_close: u32,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub hello_timeout: Duration,
}

/// The command-line flags of [`Limits`] (flattened into `perudo serve`).
#[derive(clap::Args, Clone, Debug)]
pub struct LimitArgs {
    /// Frames one WebSocket connection may send per second, sustained; beyond it a request
    /// is rejected with `SlowDown` (0: no limit).
    #[arg(long, env = "PERUDO_MESSAGES_PER_SEC", default_value_t = Limits::default().messages_per_sec)]
    pub messages_per_sec: u32,
    /// Frames one connection may send in a burst before the sustained rate applies.
    #[arg(long, env = "PERUDO_MESSAGE_BURST", default_value_t = Limits::default().message_burst)]
    pub message_burst: u32,
    /// `SlowDown` rejections a connection gets before it is closed (1008, `RateLimited`) for
    /// going on; the count is forgotten after 10 seconds without one.
    #[arg(long, env = "PERUDO_SLOW_DOWNS_BEFORE_CLOSE", default_value_t = Limits::default().slow_downs_before_close)]
    pub slow_downs_before_close: u32,
    /// New WebSocket connections per minute from one IP, in bursts of as many; beyond it the
    /// upgrade is refused with 429 (0: no limit).
    #[arg(long, env = "PERUDO_CONNECTS_PER_IP_PER_MIN", default_value_t = Limits::default().connects_per_ip_per_min)]
    pub connects_per_ip_per_min: u32,
    /// Rooms created per minute from one IP, in bursts of as many; beyond it
    /// `POST /api/rooms` answers 429 (0: no limit).
    #[arg(long, env = "PERUDO_ROOMS_PER_IP_PER_MIN", default_value_t = Limits::default().rooms_per_ip_per_min)]
    pub rooms_per_ip_per_min: u32,
    /// Most WebSocket connections open at once; beyond it upgrades get 503 (0: no cap).
    #[arg(long, env = "PERUDO_MAX_CONNECTIONS", default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// Most WebSocket connections open at once from one IP; beyond it upgrades get 429
    /// (0: no cap).
    #[arg(long, env = "PERUDO_MAX_CONNECTIONS_PER_IP", default_value_t = Limits::default().max_connections_per_ip)]
    pub max_connections_per_ip: usize,
    /// Seconds between the server's pings on each WebSocket (0: no pings).
    #[arg(long, env = "PERUDO_PING_INTERVAL_SECS", default_value_t = Limits::default().ping_interval.as_secs())]
    pub ping_interval_secs: u64,
    /// Seconds a connection may stay silent (no frame, no pong) before it is closed; must be
    /// longer than the ping interval (0: never).
    #[arg(long, env = "PERUDO_IDLE_TIMEOUT_SECS", default_value_t = Limits::default().idle_timeout.as_secs())]
    pub idle_timeout_secs: u64,
    /// Origins allowed to open a WebSocket, comma-separated (e.g.
    /// `https://perudo.example.org`); an upgrade from another origin gets 403. Unset: any.
    #[arg(long, env = "PERUDO_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Reverse proxies (Caddy, nginx) whose `X-Forwarded-For` header is trusted to name the
    /// client's IP: addresses or networks, comma-separated (`none`: trust no one). The default
    /// is this machine, where the shipped proxy configurations run; in a container, add the
    /// network the proxy connects from (e.g. `172.16.0.0/12,192.168.0.0/16` for Docker).
    #[arg(long, env = "PERUDO_TRUSTED_PROXIES", value_delimiter = ',',
          default_values_t = DEFAULT_TRUSTED_PROXIES.map(|n| n.parse::<TrustedProxy>().expect("a valid network")))]
    pub trusted_proxies: Vec<TrustedProxy>,
    /// IPv6 clients are limited per network of this many leading bits (64: one subscriber's
    /// network) rather than per address; IPv4 clients per address.
    #[arg(long, env = "PERUDO_IPV6_PREFIX_LEN", default_value_t = Limits::default().ipv6_prefix_len,
          value_parser = clap::value_parser!(u8).range(1..=128))]
    pub ipv6_prefix_len: u8,
    /// Most TCP connections open at once from one client (IPv4 address or IPv6 network),
    /// counted before any HTTP is read; beyond it new ones are closed at once. Trusted proxies
    /// are exempt (0: no cap).
    #[arg(long, env = "PERUDO_MAX_TCP_PER_IP", default_value_t = Limits::default().max_tcp_per_ip)]
    pub max_tcp_per_ip: usize,
    /// Seconds a new WebSocket has to send its `Hello` before it is closed (0: no limit).
    #[arg(long, env = "PERUDO_HELLO_TIMEOUT_SECS", default_value_t = Limits::default().hello_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub hello_timeout_secs: u64,
    /// Most spectators per room.
    #[arg(long, env = "PERUDO_MAX_SPECTATORS", default_value_t = Limits::default().max_spectators)]
    pub max_spectators: u32,
}

impl LimitArgs {
    /// The limits the flags describe, validated.
    pub fn to_limits(&self) -> Result<Limits, LimitsError> {
        let limits = Limits {
            messages_per_sec: self.messages_per_sec,
            message_burst: self.message_burst,
            slow_downs_before_close: self.slow_downs_before_close,
            connects_per_ip_per_min: self.connects_per_ip_per_min,
            rooms_per_ip_per_min: self.rooms_per_ip_per_min,
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            ping_interval: Duration::from_secs(self.ping_interval_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            allowed_origins: self
                .allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty())
                .collect(),
            trusted_proxies: self
                .trusted_proxies
                .iter()
                .filter_map(|p| match p {
                    TrustedProxy::Net(net) => Some(*net),
                    TrustedProxy::None => None,
                })
                .collect(),
            ipv6_prefix_len: self.ipv6_prefix_len,
            max_tcp_per_ip: self.max_tcp_per_ip,
            hello_timeout: Duration::from_secs(self.hello_timeout_secs),
            max_spectators: self.max_spectators,
        };
        limits.validate()?;
        Ok(limits)
    }
}

/// Limits that do not make sense together, by the setting at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("message-burst must be at least 1 while messages-per-sec is on, got 0")]
    NoBurst,
    #[error(
        "idle-timeout-secs must be longer than ping-interval-secs ({ping:?}), got {idle:?}: \
         healthy clients would be closed between two pings"
    )]
    IdleWithinPing { ping: Duration, idle: Duration },
    #[error("ipv6-prefix-len must be 1..=128, got {0}")]
    Ipv6PrefixLen(u8),
    #[error("allowed-origins must be like https://example.org, got {0:?}")]
    Origin(String),
}

/// `n` per minute in bursts of `n`; `None` for 0 (off).
fn per_minute(n: u32) -> Option<Quota> {
    NonZeroU32::new(n).map(Quota::per_minute)
}

/// The server-wide state behind the per-IP limits and the connection caps.
#[derive(Debug)]
pub struct Guards {
    pub limits: Limits,
    connects: Option<DefaultKeyedRateLimiter<IpAddr>>,
    rooms: Option<DefaultKeyedRateLimiter<IpAddr>>,
    open: Mutex<OpenConnections>,
    /// Open TCP connections per client key (trusted proxies are not counted).
    tcp: Mutex<HashMap<IpAddr, usize>>,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a new WebSocket connection is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Too many new connections from this IP lately.
    RateLimited,
    /// This IP holds `max_connections_per_ip` open connections.
    TooManyFromIp,
    /// The server holds `max_connections` open connections.
    ServerFull,
}

impl Guards {
    pub fn new(limits: Limits) -> Arc<Guards> {
        Arc::new(Guards {
            connects: per_minute(limits.connects_per_ip_per_min).map(RateLimiter::keyed),
            rooms: per_minute(limits.rooms_per_ip_per_min).map(RateLimiter::keyed),
            open: Mutex::default(),
            tcp: Mutex::default(),
            limits,
        })
    }

    /// Takes one of the TCP connection places of the client at `peer`, before any byte is
    /// read: `None` when that client holds `max_tcp_per_ip` already. Trusted proxies are
    /// exempt (they carry every player).
    pub fn admit_tcp(self: &Arc<Guards>, peer: IpAddr) -> Option<TcpSlot> {
        let max = self.limits.max_tcp_per_ip;
        if max == 0 || self.limits.is_trusted_proxy(peer) {
            return Some(TcpSlot {
                guards: None,
                key: peer,
            });
        }
        let key = self.limits.client_key(peer);
        let mut open = self.tcp.lock().expect("tcp connections lock");
        let n = open.entry(key).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(TcpSlot {
            guards: Some(self.clone()),
            key,
        })
    }

    /// Whether `ip` may create a room now (counts the attempt).
    pub fn may_create_room(&self, ip: IpAddr) -> bool {
        let key = self.limits.client_key(ip);
        self.rooms
            .as_ref()
            .is_none_or(|l| l.check_key(&key).is_ok())
    }

    /// Whether `ip` may open a WebSocket now (counts the attempt against its rate).
    pub fn may_connect(&self, ip: IpAddr) -> Result<(), Refused> {
        let ip = self.limits.client_key(ip);
        match &self.connects {
            Some(limiter) if limiter.check_key(&ip).is_err() => Err(Refused::RateLimited),
            _ => Ok(()),
        }
    }

    /// Takes one of the open-connection places for `ip`; it is given back when the slot drops.
    pub fn open(self: &Arc<Guards>, ip: IpAddr) -> Result<ConnSlot, Refused> {
        let ip = self.limits.client_key(ip);
        let mut open = self.open.lock().expect("open connections lock");
        let max = self.limits.max_connections;
        if max > 0 && open.total >= max {
            return Err(Refused::ServerFull);
        }
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        let max_ip = self.limits.max_connections_per_ip;
        if max_ip > 0 && from_ip >= max_ip {
            return Err(Refused::TooManyFromIp);
        }
        open.total += 1;
        open.per_ip.insert(ip, from_ip + 1);
        Ok(ConnSlot {
            guards: self.clone(),
            ip,
        })
    }

    /// WebSocket connections open now.
    pub fn open_connections(&self) -> usize {
        self.open.lock().expect("open connections lock").total
    }

    /// Forgets the rate-limiter state of IPs that have been quiet long enough for it not to
    /// matter, so the keyed limiters do not grow with every IP ever seen.
    pub fn forget_quiet_ips(&self) {
        for limiter in [&self.connects, &self.rooms].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// The client's IP: the peer's, or, when the peer is a trusted proxy, the last address
    /// in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer.ip(), headers, &self.limits.trusted_proxies)
    }

    /// Whether a WebSocket upgrade with these headers may proceed: no `Origin` (not a
    /// browser), no list, or an `Origin` on the list.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        origin_allowed(headers, &self.limits.allowed_origins)
    }
}

fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    // Each proxy appends the address it got the request from: read from the right, past
    // our own proxies, to the first address a trusted proxy vouches for.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            // Garbage where an address should be: trust nothing further left.
            return peer;
        };
        let ip = ip.to_canonical();
        if !is_trusted(ip, trusted) {
            return ip;
        }
    }
    peer
}

fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

/// One open WebSocket connection's place under the caps; dropping it gives the place back.
#[derive(Debug)]
pub struct ConnSlot {
    guards: Arc<Guards>,
    ip: IpAddr,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut open = self.guards.open.lock().expect("open connections lock");
        open.total -= 1;
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

/// One TCP connection's place under `max_tcp_per_ip`; dropping it gives the place back.
#[derive(Debug)]
pub struct TcpSlot {
    /// `None`: not counted (a trusted proxy, or no cap).
    guards: Option<Arc<Guards>>,
    key: IpAddr,
}

impl Drop for TcpSlot {
    fn drop(&mut self) {
        let Some(guards) = &self.guards else {
            return;
        };
        let mut open = guards.tcp.lock().expect("tcp connections lock");
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// What to do with a frame a connection sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Answer it with `SlowDown` and do nothing else.
    SlowDown,
    /// The connection went on after `slow_downs_before_close` slow-downs: close it.
    Close,
}

/// One connection's message rate: a token bucket (governor's direct limiter) and the count
/// of slow-downs it earned.
#[derive(Debug)]
pub struct MessageGate {
    limiter: Option<DefaultDirectRateLimiter>,
    max_slow_downs: u32,
    slow_downs: u32,
    last_slow_down: Option<Instant>,
}

impl MessageGate {
    pub fn new(limits: &ConnectionLimits) -> MessageGate {
        let limiter = NonZeroU32::new(limits.messages_per_sec).map(|rate| {
            let burst = NonZeroU32::new(limits.message_burst).unwrap_or(rate);
            RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
        });
        MessageGate {
            limiter,
            max_slow_downs: limits.slow_downs_before_close,
            slow_downs: 0,
            last_slow_down: None,
        }
    }

    /// Counts one frame that arrived at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        let Some(limiter) = &self.limiter else {
            return Verdict::Pass;
        };
        if limiter.check().is_ok() {
            return Verdict::Pass;
        }
        if self
            .last_slow_down
            .is_some_and(|at| now.duration_since(at) > SLOW_DOWN_MEMORY)
        {
            self.slow_downs = 0;
        }
        self.last_slow_down = Some(now);
        if self.slow_downs >= self.max_slow_downs {
            return Verdict::Close;
        }
        self.slow_downs += 1;
        Verdict::SlowDown
    }
}

/// A listener whose connections fail a read that waits longer than `idle` for a byte, so
/// TCP connections that never send a request (or never finish one) do not stay forever.
/// WebSocket clients are pinged more often than that, and their pongs are reads.
#[derive(Debug)]
pub struct IdleListener {
    inner: tokio::net::TcpListener,
    idle: Duration,
    /// Where connections per client are counted (`max_tcp_per_ip`).
    guards: Option<Arc<Guards>>,
}

impl IdleListener {
    pub fn new(inner: tokio::net::TcpListener, idle: Duration) -> IdleListener {
        IdleListener {
            inner,
            idle,
            guards: None,
        }
    }

    /// Also caps the TCP connections open at once per client (`Limits::max_tcp_per_ip`): a
    /// connection over the cap is closed as soon as it is accepted, before anything is read.
    pub fn with_tcp_caps(mut self, guards: Arc<Guards>) -> IdleListener {
        self.guards = Some(guards);
        self
    }
}

impl axum::serve::Listener for IdleListener {
    type Io = IdleStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            let slot = match &self.guards {
                Some(guards) => match guards.admit_tcp(addr.ip()) {
                    Some(slot) => Some(slot),
                    None => {
                        crate::metrics::rate_limited("tcp_connections_per_ip");
                        tracing::debug!(ip = %addr.ip(), "tcp connection over the per-client cap: closed");
                        drop(stream);
                        continue;
                    }
                },
                None => None,
            };
            return (
                IdleStream {
                    inner: stream,
                    idle: self.idle,
                    deadline: None,
                    due: None,
                    _slot: slot,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A TCP stream whose pending reads time out after `idle` (`ZERO`: never).
#[derive(Debug)]
pub struct IdleStream {
    inner: tokio::net::TcpStream,
    idle: Duration,
    /// The pending reads' timer: made once, then moved on (`reset`) only when it fires
    /// before `due`, so that a read does not cost a timer of its own (an allocation and a
    /// timer-wheel entry made and removed per message).
    deadline: Option<Pin<Box<Sleep>>>,
    /// Set by the first poll of a read that finds nothing to read: when that read fails.
    due: Option<tokio::time::Instant>,
    /// Its place under the per-client TCP cap, given back when the stream drops.
    _slot: Option<TcpSlot>,
}

impl IdleStream {
    pub fn tcp(&self) -> &tokio::net::TcpStream {
        &self.inner
    }
}

impl AsyncRead for IdleStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.due = None;
                Poll::Ready(result)
            }
            Poll::Pending if this.idle.is_zero() => Poll::Pending,
            Poll::Pending => {
                let idle = this.idle;
                let due = *this
                    .due
                    .get_or_insert_with(|| tokio::time::Instant::now() + idle);
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                loop {
                    match deadline.as_mut().poll(cx) {
                        // Set for an earlier read: the timer moves on to this one's.
                        Poll::Ready(()) if deadline.deadline() < due => {
                            deadline.as_mut().reset(due);
                        }
                        Poll::Ready(()) => {
                            this.due = None;
                            return Poll::Ready(Err(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "nothing received within the idle timeout",
                            )));
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        }
    }
}

impl AsyncWrite for IdleStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that keeps receiving within its idle time stays readable well past it (the
    /// one timer moves on with every read), and a read that then waits longer fails.
    #[tokio::test]
    async fn idle_streams_time_out_only_after_silence() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let idle = Duration::from_millis(200);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = IdleListener::new(listener, idle);
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut stream, _) = axum::serve::Listener::accept(&mut listener).await;
        let mut byte = [0u8; 1];
        // Twelve reads, each waiting a quarter of the idle time: three idle times in all.
        for i in 0..12u8 {
            let writer = async {
                tokio::time::sleep(idle / 4).await;
                client.write_all(&[i]).await.unwrap();
            };
            let (read, ()) = tokio::join!(stream.read_exact(&mut byte), writer);
            read.expect("a stream that keeps receiving stays open");
            assert_eq!(byte[0], i);
        }
        let error = stream.read_exact(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        drop(client);
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(ips: &[IpAddr]) -> Vec<IpNet> {
        ips.iter().map(|&ip| IpNet::from(ip)).collect()
    }

    #[test]
    fn the_defaults_validate_and_every_limit_is_on() {
        let limits = Limits::default();
        limits.validate().unwrap();
        assert!(limits.messages_per_sec > 0);
        assert!(limits.connects_per_ip_per_min > 0);
        assert!(limits.rooms_per_ip_per_min > 0);
        assert!(limits.max_connections > 0);
        assert!(limits.max_connections_per_ip > 0);
        assert!(!limits.ping_interval.is_zero());
        assert!(limits.idle_timeout > limits.ping_interval);
        Limits::unlimited().validate().unwrap();
    }

    #[test]
    fn an_idle_timeout_within_the_ping_interval_is_refused() {
        let limits = Limits {
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(20),
            ..Limits::default()
        };
        let error = limits.validate().unwrap_err();
        assert!(matches!(error, LimitsError::IdleWithinPing { .. }));
        assert!(error.to_string().contains("idle-timeout-secs"), "{error}");
        let bad_origin = Limits {
            allowed_origins: vec!["example.org".into()],
            ..Limits::default()
        };
        assert!(
            bad_origin
                .validate()
                .unwrap_err()
                .to_string()
                .contains("allowed-origins")
        );
    }

    #[test]
    fn forwarded_for_is_read_only_from_a_trusted_proxy() {
        let proxy = ip("10.0.0.1");
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        // Not trusted: the peer is the client, whatever it claims.
        assert_eq!(
            client_ip(ip("198.51.100.2"), &h, &nets(&[proxy])),
            ip("198.51.100.2")
        );
        assert_eq!(client_ip(proxy, &h, &[]), proxy);
        // Trusted: the address it appended.
        assert_eq!(client_ip(proxy, &h, &nets(&[proxy])), ip("203.0.113.7"));
        // A client's own forged entries are left of the proxy's: the rightmost wins.
        let forged = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7")]);
        assert_eq!(
            client_ip(proxy, &forged, &nets(&[proxy])),
            ip("203.0.113.7")
        );
        // Chained trusted proxies are skipped; several headers read as one list.
        let chain = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "10.0.0.2"),
        ]);
        assert_eq!(
            client_ip(proxy, &chain, &nets(&[proxy, ip("10.0.0.2")])),
            ip("203.0.113.7")
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &nets(&[proxy])), proxy);
        let garbage = headers(&[("x-forwarded-for", "not an ip")]);
        assert_eq!(client_ip(proxy, &garbage, &nets(&[proxy])), proxy);
        // IPv4-mapped IPv6 peers are their IPv4 address.
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &h, &nets(&[proxy])),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn origins_are_checked_only_against_a_list() {
        let h = headers(&[("origin", "https://Perudo.example.org")]);
        assert!(origin_allowed(&h, &[]));
        assert!(origin_allowed(&h, &["https://perudo.example.org".into()]));
        assert!(!origin_allowed(&h, &["https://other.example.org".into()]));
        assert!(origin_allowed(
            &HeaderMap::new(),
            &["https://other.example.org".into()]
        ));
    }

    #[test]
    fn connection_slots_are_capped_and_given_back() {
        let guards = Guards::new(Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..Limits::default()
        });
        let a = ip("192.0.2.1");
        let b = ip("192.0.2.2");
        let s1 = guards.open(a).unwrap();
        let _s2 = guards.open(a).unwrap();
        assert_eq!(guards.open(a).unwrap_err(), Refused::TooManyFromIp);
        let _s3 = guards.open(b).unwrap();
        assert_eq!(guards.open(b).unwrap_err(), Refused::ServerFull);
        assert_eq!(guards.open_connections(), 3);
        drop(s1);
        assert_eq!(guards.open_connections(), 2);
        let _s4 = guards.open(a).unwrap();
    }

    #[test]
    fn clients_are_ipv4_addresses_and_ipv6_networks() {
        assert_eq!(client_key(ip("192.0.2.7"), 64), ip("192.0.2.7"));
        assert_eq!(client_key(ip("::ffff:192.0.2.7"), 64), ip("192.0.2.7"));
        assert_eq!(
            client_key(ip("2001:db8:1:2:3:4:5:6"), 64),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_key(ip("2001:db8:1:2:3:4:5:6"), 48),
            ip("2001:db8:1::")
        );
        assert_eq!(
            client_key(ip("2001:db8:1:2:3:4:5:6"), 128),
            ip("2001:db8:1:2:3:4:5:6")
        );
        let bad = Limits {
            ipv6_prefix_len: 0,
            ..Limits::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("ipv6-prefix-len")
        );
    }

    #[test]
    fn trusted_proxies_are_addresses_networks_or_none() {
        let parse = |s: &str| s.parse::<TrustedProxy>();
        assert_eq!(
            parse("10.0.0.1"),
            Ok(TrustedProxy::Net("10.0.0.1/32".parse().unwrap()))
        );
        assert_eq!(
            parse("172.16.5.4/12"),
            Ok(TrustedProxy::Net("172.16.0.0/12".parse().unwrap()))
        );
        assert_eq!(parse(" NONE "), Ok(TrustedProxy::None));
        assert!(parse("10.0.0.0/33").is_err());
        assert!(parse("proxy.example.org").is_err());
        // The defaults: this machine only.
        let limits = Limits::default();
        assert!(limits.is_trusted_proxy(ip("127.0.0.1")));
        assert!(limits.is_trusted_proxy(ip("::1")));
        assert!(limits.is_trusted_proxy(ip("::ffff:127.0.0.1")));
        assert!(!limits.is_trusted_proxy(ip("127.0.0.2")));
        assert!(!limits.is_trusted_proxy(ip("192.0.2.1")));
        // A network trusts every address in it, IPv4-mapped peers included.
        let docker: Vec<IpNet> = vec!["172.16.0.0/12".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(client_ip(ip("172.18.0.1"), &h, &docker), ip("203.0.113.7"));
        assert_eq!(
            client_ip(ip("::ffff:172.18.0.1"), &h, &docker),
            ip("203.0.113.7")
        );
        assert_eq!(client_ip(ip("172.32.0.1"), &h, &docker), ip("172.32.0.1"));
    }

    #[test]
    fn the_origin_of_a_public_url() {
        assert_eq!(
            origin_of("https://Perudo.Example.org/").as_deref(),
            Some("https://perudo.example.org")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("perudo.example.org"), None);
        assert_eq!(origin_of("ftp://perudo.example.org"), None);
    }

    #[test]
    fn tcp_connections_are_capped_per_client_except_for_trusted_proxies() {
        let guards = Guards::new(Limits {
            max_tcp_per_ip: 2,
            ..Limits::default()
        });
        let a = ip("2001:db8::1");
        let same_net = ip("2001:db8::2");
        let first = guards.admit_tcp(a).expect("first");
        let _second = guards.admit_tcp(same_net).expect("second, same /64");
        assert!(guards.admit_tcp(a).is_none(), "a third from the /64");
        assert!(guards.admit_tcp(ip("2001:db8:0:1::1")).is_some());
        drop(first);
        assert!(guards.admit_tcp(a).is_some(), "the place came back");
        // The proxy carries everyone: never capped.
        let proxied: Vec<_> = (0..10).map(|_| guards.admit_tcp(ip("127.0.0.1"))).collect();
        assert!(proxied.iter().all(Option::is_some));
    }

    #[test]
    fn per_ip_rates_are_per_ip() {
        let guards = Guards::new(Limits {
            connects_per_ip_per_min: 2,
            rooms_per_ip_per_min: 1,
            ..Limits::default()
        });
        let a = ip("192.0.2.1");
        assert!(guards.may_connect(a).is_ok());
        assert!(guards.may_connect(a).is_ok());
        assert_eq!(guards.may_connect(a), Err(Refused::RateLimited));
        assert!(guards.may_connect(ip("192.0.2.2")).is_ok());
        assert!(guards.may_create_room(a));
        assert!(!guards.may_create_room(a));
        assert!(guards.may_create_room(ip("192.0.2.2")));
        guards.forget_quiet_ips();
        let off = Guards::new(Limits::unlimited());
        for _ in 0..1000 {
            assert!(off.may_connect(a).is_ok() && off.may_create_room(a));
        }
    }

    #[test]
    fn a_flood_gets_slow_downs_then_a_close() {
        let mut gate = MessageGate::new(&ConnectionLimits {
            messages_per_sec: 1,
            message_burst: 3,
            slow_downs_before_close: 2,
            ping_interval: Duration::ZERO,
            idle_timeout: Duration::ZERO,
            hello_timeout: Duration::ZERO,
        });
        let now = Instant::now();
        let verdicts: Vec<Verdict> = (0..6).map(|_| gate.check(now)).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Pass,
                Verdict::Pass,
                Verdict::Pass,
                Verdict::SlowDown,
                Verdict::SlowDown,
                Verdict::Close
            ]
        );
    }

    #[test]
    fn slow_downs_are_forgotten_after_a_quiet_spell() {
        let mut gate = MessageGate::new(&ConnectionLimits {
            messages_per_sec: 1,
            message_burst: 1,
            slow_downs_before_close: 1,
            ping_interval: Duration::ZERO,
            idle_timeout: Duration::ZERO,
            hello_timeout: Duration::ZERO,
        });
        let now = Instant::now();
        assert_eq!(gate.check(now), Verdict::Pass);
        assert_eq!(gate.check(now), Verdict::SlowDown);
        // The bucket is still empty (governor's clock is real), but the slow-down is old.
        let later = now + SLOW_DOWN_MEMORY + Duration::from_secs(1);
        assert_eq!(gate.check(later), Verdict::SlowDown);
        assert_eq!(gate.check(later), Verdict::Close);
    }
}
