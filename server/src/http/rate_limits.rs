//! Rate limits on judgment submission and sign-in: token buckets per worker
//! and per client address, in each server's memory.
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

/// How fast clients may go. Zero turns a limit off.
#[derive(Debug, Clone, clap::Args)]
pub struct RateLimitSettings {
    /// Judgments one worker may submit per second, sustained (bursts of ten
    /// seconds' worth pass, so a queue flushed after a network drop goes through).
    #[arg(
        long,
        env = "PERCEPT_JUDGMENTS_PER_WORKER_PER_SECOND",
        default_value_t = 5.0
    )]
    pub judgments_per_worker_per_second: f64,
    /// Judgments one client address may submit per second, sustained (a lab
    /// behind one NAT shares it).
    #[arg(
        long,
        env = "PERCEPT_JUDGMENTS_PER_IP_PER_SECOND",
        default_value_t = 200.0
    )]
    pub judgments_per_ip_per_second: f64,
    /// Sign-in attempts one client address may make per minute.
    #[arg(
        long,
        env = "PERCEPT_SIGN_INS_PER_IP_PER_MINUTE",
        default_value_t = 10.0
    )]
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
            judgments_per_worker_per_second: 5.0,
            judgments_per_ip_per_second: 200.0,
            sign_ins_per_ip_per_minute: 10.0,
            trust_forwarded_for: false,
        }
    }
}

impl RateLimitSettings {
    /// No judgment limits: for a server whose only clients are simulated
    /// workers on the same machine (the demo, load benchmarks).
    pub fn without_judgment_limits(self) -> Self {
        Self {
            judgments_per_worker_per_second: 0.0,
            judgments_per_ip_per_second: 0.0,
            ..self
        }
    }
}

/// The limits one server enforces.
pub struct RateLimits {
    pub judgments_per_worker: RateLimit<i64>,
    pub judgments_per_ip: RateLimit<IpAddr>,
    pub sign_ins_per_ip: RateLimit<IpAddr>,
    trust_forwarded_for: bool,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        const JUDGMENT_BURST_SECONDS: f64 = 10.0;
        Self {
            judgments_per_worker: RateLimit::new(
                "judgments from this worker",
                settings.judgments_per_worker_per_second,
                settings.judgments_per_worker_per_second * JUDGMENT_BURST_SECONDS,
            ),
            judgments_per_ip: RateLimit::new(
                "judgments from this address",
                settings.judgments_per_ip_per_second,
                settings.judgments_per_ip_per_second * JUDGMENT_BURST_SECONDS,
            ),
            sign_ins_per_ip: RateLimit::new(
                "sign-in attempts from this address",
                settings.sign_ins_per_ip_per_minute / 60.0,
                settings.sign_ins_per_ip_per_minute,
            ),
            trust_forwarded_for: settings.trust_forwarded_for,
        }
    }
}

/// A token bucket per key: each request takes a token, tokens come back at
/// `per_second`, and at most `burst` are saved up.
pub struct RateLimit<K> {
    what: &'static str,
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
    fn new(what: &'static str, per_second: f64, burst: f64) -> Self {
        Self {
            what,
            per_second,
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
                "too many {}: at most {} per second, in bursts of up to {}",
                self.what,
                round_for_people(self.per_second),
                round_for_people(self.burst)
            ),
            retry_after,
        })
    }
}

fn round_for_people(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The address a request came from: the peer, or behind a trusted proxy the
/// address the proxy saw.
pub struct ClientIp(pub IpAddr);

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
                return Ok(Self(address));
            }
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| Self(peer.ip()))
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
        let limit = RateLimit::new("requests", 2.0, 4.0);
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
        let limit = RateLimit::new("requests", 0.0, 0.0);
        let now = Instant::now();
        for _ in 0..10_000 {
            limit.take_at(1, now).unwrap();
        }
    }

    #[test]
    fn idle_keys_are_forgotten_once_the_map_is_large() {
        let limit = RateLimit::new("requests", 1.0, 1.0);
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
}
