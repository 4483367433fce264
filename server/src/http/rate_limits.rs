//! Rate limits on judgment submission, assignment requests and sign-in:
//! token buckets per worker and per client address, in each server's memory.
//!
//! In memory, not in PostgreSQL, because they sit on the hottest path (every
//! judgment) and an approximate limit is enough there: behind a load balancer
//! with N servers a client can reach at most N times the limit. Sign-in
//! failures, which must be exact across servers, are counted in the database
//! instead (`crate::researchers::sign_in_throttle`).

use std::{
    collections::HashMap,
    hash::Hash,
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};

use super::AppState;
use crate::error::{Error, Result};

// The defaults, shared by the command line and `Default`.
const JUDGMENTS_PER_WORKER_PER_SECOND: f64 = 5.0;
const JUDGMENTS_PER_IP_PER_SECOND: f64 = 200.0;
const ASSIGNMENTS_PER_IP_PER_MINUTE: f64 = 60.0;
const SIGN_INS_PER_IP_PER_MINUTE: f64 = 10.0;

/// How fast clients may go. Zero turns a limit off. A client address is an
/// IPv4 address or an IPv6 /64 (what one household or host gets).
#[derive(Debug, Clone, clap::Args)]
pub struct RateLimitSettings {
    /// Judgments one worker may submit per second, sustained (bursts of ten
    /// seconds' worth pass, so a queue flushed after a network drop goes through).
    #[arg(long, env = "PERCEPT_JUDGMENTS_PER_WORKER_PER_SECOND", default_value_t = JUDGMENTS_PER_WORKER_PER_SECOND, value_parser = rate)]
    pub judgments_per_worker_per_second: f64,
    /// Judgments one client address may submit per second, sustained (a lab
    /// behind one NAT shares it).
    #[arg(long, env = "PERCEPT_JUDGMENTS_PER_IP_PER_SECOND", default_value_t = JUDGMENTS_PER_IP_PER_SECOND, value_parser = rate)]
    pub judgments_per_ip_per_second: f64,
    /// Assignments one client address may ask for per minute (each one holds
    /// trials back from other workers until it expires).
    #[arg(long, env = "PERCEPT_ASSIGNMENTS_PER_IP_PER_MINUTE", default_value_t = ASSIGNMENTS_PER_IP_PER_MINUTE, value_parser = rate)]
    pub assignments_per_ip_per_minute: f64,
    /// Sign-in attempts one client address may make per minute.
    #[arg(long, env = "PERCEPT_SIGN_INS_PER_IP_PER_MINUTE", default_value_t = SIGN_INS_PER_IP_PER_MINUTE, value_parser = rate)]
    pub sign_ins_per_ip_per_minute: f64,
    /// Take the client's address from the last `X-Forwarded-For` entry (set
    /// this behind a load balancer or reverse proxy, never when clients reach
    /// the server directly: they could then pick any address they like).
    #[arg(long, env = "PERCEPT_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            judgments_per_worker_per_second: JUDGMENTS_PER_WORKER_PER_SECOND,
            judgments_per_ip_per_second: JUDGMENTS_PER_IP_PER_SECOND,
            assignments_per_ip_per_minute: ASSIGNMENTS_PER_IP_PER_MINUTE,
            sign_ins_per_ip_per_minute: SIGN_INS_PER_IP_PER_MINUTE,
            trust_forwarded_for: false,
        }
    }
}

impl RateLimitSettings {
    /// No limits on workers: for a server whose only workers are simulated
    /// ones on the same machine (the demo, load benchmarks).
    pub fn without_worker_limits(self) -> Self {
        Self {
            judgments_per_worker_per_second: 0.0,
            judgments_per_ip_per_second: 0.0,
            assignments_per_ip_per_minute: 0.0,
            ..self
        }
    }
}

/// A limit as given on the command line: a finite number, zero or more.
fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate: give a number, 0 or more (0 turns the limit off)"
        )),
    }
}

/// The limits one server enforces.
pub struct RateLimits {
    pub judgments_per_worker: RateLimit<i64>,
    pub judgments_per_ip: RateLimit<IpAddr>,
    pub assignments_per_ip: RateLimit<IpAddr>,
    pub sign_ins_per_ip: RateLimit<IpAddr>,
    trust_forwarded_for: bool,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        const JUDGMENT_BURST_SECONDS: f64 = 10.0;
        Self {
            judgments_per_worker: RateLimit::new(
                "judgments from this worker",
                Per::Second(settings.judgments_per_worker_per_second),
                settings.judgments_per_worker_per_second * JUDGMENT_BURST_SECONDS,
            ),
            judgments_per_ip: RateLimit::new(
                "judgments from this address",
                Per::Second(settings.judgments_per_ip_per_second),
                settings.judgments_per_ip_per_second * JUDGMENT_BURST_SECONDS,
            ),
            assignments_per_ip: RateLimit::new(
                "assignment requests from this address",
                Per::Minute(settings.assignments_per_ip_per_minute),
                settings.assignments_per_ip_per_minute,
            ),
            sign_ins_per_ip: RateLimit::new(
                "sign-in attempts from this address",
                Per::Minute(settings.sign_ins_per_ip_per_minute),
                settings.sign_ins_per_ip_per_minute,
            ),
            trust_forwarded_for: settings.trust_forwarded_for,
        }
    }
}

/// A rate as configured, which is also how the error states it.
#[derive(Debug, Clone, Copy)]
enum Per {
    Second(f64),
    Minute(f64),
}

impl Per {
    fn per_second(self) -> f64 {
        match self {
            Per::Second(rate) => rate,
            Per::Minute(rate) => rate / 60.0,
        }
    }
}

impl std::fmt::Display for Per {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rate, unit) = match *self {
            Per::Second(rate) => (rate, "second"),
            Per::Minute(rate) => (rate, "minute"),
        };
        write!(f, "{} per {unit}", round_for_people(rate))
    }
}

/// A token bucket per key: each request takes a token, tokens come back at
/// the rate, and at most `burst` are saved up.
pub struct RateLimit<K> {
    what: &'static str,
    rate: Per,
    per_second: f64,
    burst: f64,
    buckets: Mutex<Buckets<K>>,
}

struct Buckets<K> {
    by_key: HashMap<K, Bucket>,
    /// Forget idle keys when the map grows past this, so that many clients
    /// passing through do not grow it for ever.
    prune_at: usize,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

const MIN_PRUNE_AT: usize = 4096;

impl<K: Hash + Eq + Clone> RateLimit<K> {
    fn new(what: &'static str, rate: Per, burst: f64) -> Self {
        Self {
            what,
            rate,
            per_second: rate.per_second(),
            // A bucket must hold at least one request, or nothing would pass.
            burst: burst.max(1.0),
            buckets: Mutex::new(Buckets {
                by_key: HashMap::new(),
                prune_at: MIN_PRUNE_AT,
            }),
        }
    }

    /// Takes a token for `key`, or says when to retry (429).
    pub fn take(&self, key: K) -> Result<()> {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: K, now: Instant) -> Result<()> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.by_key.len() >= buckets.prune_at {
            buckets.by_key.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * self.per_second
                    < self.burst
            });
            buckets.prune_at = (buckets.by_key.len() * 2).max(MIN_PRUNE_AT);
        }
        let bucket = buckets.by_key.entry(key).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let refilled = now.duration_since(bucket.updated).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refilled).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let retry_after = Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second);
        Err(Error::TooManyRequests {
            message: format!(
                "too many {}: at most {}, in bursts of up to {}",
                self.what,
                self.rate,
                round_for_people(self.burst)
            ),
            retry_after,
        })
    }
}

fn round_for_people(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The address a request came from (the peer, or behind a trusted proxy the
/// address the proxy saw), as rate limits count it: IPv4 as is, IPv6 by its
/// /64, since one host or household gets a whole /64 to pick addresses from.
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    fn of(address: IpAddr) -> Self {
        Self(match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(std::net::Ipv6Addr::from_bits(
                    v6.to_bits() & !((1u128 << 64) - 1),
                )),
            },
            v4 => v4,
        })
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        if state.limits.trust_forwarded_for {
            // The last entry is the one our proxy appended; earlier ones come
            // from the client and could say anything.
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .next_back()
                .and_then(|address| address.trim().parse().ok());
            if let Some(address) = forwarded {
                return Ok(Self::of(address));
            }
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| Self::of(peer.ip()))
            .ok_or_else(|| {
                Error::Internal(anyhow::anyhow!(
                    "the server was started without connection info, so it cannot tell clients apart"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_requests_wait_for_refill() {
        let limit = RateLimit::new("requests", Per::Second(2.0), 4.0);
        let start = Instant::now();
        for _ in 0..4 {
            limit.take_at("worker", start).unwrap();
        }
        let Err(Error::TooManyRequests { retry_after, .. }) = limit.take_at("worker", start) else {
            panic!("the fifth request in the same instant should be refused");
        };
        assert_eq!(retry_after, Duration::from_millis(500));
        // Other keys have buckets of their own.
        limit.take_at("another worker", start).unwrap();
        // Half a second brings one token back, and only one.
        let later = start + Duration::from_millis(500);
        limit.take_at("worker", later).unwrap();
        assert!(limit.take_at("worker", later).is_err());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limit = RateLimit::new("requests", Per::Second(0.0), 0.0);
        let now = Instant::now();
        for _ in 0..10_000 {
            limit.take_at(1, now).unwrap();
        }
    }

    #[test]
    fn idle_keys_are_forgotten_once_the_map_is_large() {
        let limit = RateLimit::new("requests", Per::Second(1.0), 1.0);
        let start = Instant::now();
        for key in 0..MIN_PRUNE_AT {
            limit.take_at(key, start).unwrap();
        }
        // A second later every bucket is full again: nothing worth keeping.
        limit
            .take_at(usize::MAX, start + Duration::from_secs(1))
            .unwrap();
        assert_eq!(limit.buckets.lock().unwrap().by_key.len(), 1);
    }

    #[test]
    fn an_ipv6_client_counts_as_its_slash_64() {
        let address = |text: &str| ClientIp::of(text.parse().unwrap()).0;
        assert_eq!(
            address("2001:db8:1:2:aaaa::1"),
            address("2001:db8:1:2:bbbb::9")
        );
        assert_ne!(address("2001:db8:1:2::1"), address("2001:db8:1:3::1"));
        assert_eq!(address("::ffff:203.0.113.7"), address("203.0.113.7"));
    }

    #[test]
    fn limits_are_stated_in_the_unit_they_were_given_in() {
        let limit = RateLimit::new("sign-ins", Per::Minute(10.0), 10.0);
        let now = Instant::now();
        for _ in 0..10 {
            limit.take_at((), now).unwrap();
        }
        let Err(error) = limit.take_at((), now) else {
            panic!("the eleventh sign-in should be refused");
        };
        assert_eq!(
            error.to_string(),
            "too many sign-ins: at most 10 per minute, in bursts of up to 10"
        );
    }
}
