use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use primitives::rate_limit::gcra;
use primitives::{Decision, Quota, RateLimiter};
use redis::Script;

use crate::Redis;

/// GCRA in one atomic Lua call, using the Redis server's clock so every instance agrees, taking
/// up to ARGV[3] cells at once after giving back ARGV[4] unused ones (a lease, see
/// [`RedisLimiter`]). With one cell and nothing given back it is exactly
/// `primitives::rate_limit::gcra`. Returns {cells granted, remaining, retry_after_ms, reset_ms}.
const GCRA_LUA: &str = r#"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local refund = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now) - refund * interval
if tat < now then tat = now end
local cells = math.floor((now + burst - tat) / interval)
if cells > want then cells = want end
if cells < 1 then
  if refund > 0 then redis.call('SET', KEYS[1], tat, 'PX', math.max(tat - now, 1)) end
  return {0, 0, tat + interval - burst - now, tat - now}
end
local new_tat = tat + cells * interval
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {cells, math.floor((burst - (new_tat - now)) / interval), 0, new_tat - now}
"#;

/// `primitives::rate_limit::gcra_peek` on the Redis server's clock: reads the key, writes nothing.
/// Returns {1 if a request would be admitted else 0, cells available, retry_after_ms, reset_ms}.
const PEEK_LUA: &str = r#"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local cells = math.floor((now + burst - tat) / interval)
if cells > limit then cells = limit end
if cells < 1 then return {0, 0, tat + interval - burst - now, tat - now} end
return {1, cells, 0, tat - now}
"#;

/// How long cells taken ahead may be spent before the rest is given back.
const LEASE: Duration = Duration::from_millis(250);

/// Cells an instance may take ahead for one key: a twentieth of the burst, at most 1,024. Quotas
/// under 40 are counted one request at a time, exactly.
fn lease_cap(quota: Quota) -> u32 {
    (quota.limit / 20).min(1024)
}

/// The lease of one key, and the lock that lets one request at a time renew it.
#[derive(Default)]
struct KeyLease {
    lease: Mutex<Lease>,
    refill: tokio::sync::Mutex<()>,
}

/// Cells of one key taken ahead by this instance.
#[derive(Default)]
struct Lease {
    /// Unspent cells, usable until `until`.
    cells: u32,
    until: Option<Instant>,
    /// How many to take next time: doubles while leases are spent in time, shrinks to what was
    /// spent when one lapses, so a slow client does not tie up cells it does not use.
    next: u32,
    spent: u32,
    /// Redis's answer when the lease was taken.
    remaining: u32,
    reset_at: Option<Instant>,
    /// Refused until then (GCRA's retry-after).
    refused_until: Option<Instant>,
}

/// In-process GCRA state: the fallback while Redis is unreachable. Counts are per instance.
pub struct LocalLimiter {
    state: Mutex<HashMap<String, u64>>,
    started: Instant,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        LocalLimiter { state: Mutex::new(HashMap::new()), started: Instant::now() }
    }
}

impl LocalLimiter {
    pub fn peek_now(&self, key: &str, quota: Quota) -> Decision {
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let map = self.state.lock().unwrap_or_else(|p| p.into_inner());
        primitives::rate_limit::gcra_peek(map.get(key).copied(), now, quota)
    }

    pub fn check_now(&self, key: &str, quota: Quota) -> Decision {
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let mut map = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, tat| *tat > now);
        }
        let (decision, new_tat) = gcra(map.get(key).copied(), now, quota);
        if let Some(t) = new_tat {
            map.insert(key.to_owned(), t);
        }
        decision
    }
}

/// Rate limiter over Redis with the in-process fallback.
///
/// A busy key would cost a Redis round trip per request, so an instance takes cells ahead for
/// keys with large quotas (a *lease*: at most a twentieth of the burst, spent within 250 ms, the
/// unspent rest given back with the next call). Nothing is ever admitted beyond the quota; while
/// one instance holds unspent cells another may be refused up to that many cells early. Quotas
/// under 40 per period are counted exactly, one round trip per request.
pub struct RedisLimiter {
    redis: Redis,
    script: Script,
    peek_script: Script,
    local: LocalLimiter,
    down_until_ms: AtomicU64,
    leases: Mutex<HashMap<String, Arc<KeyLease>>>,
}

impl RedisLimiter {
    pub fn new(redis: Redis) -> Self {
        RedisLimiter {
            redis,
            script: Script::new(GCRA_LUA),
            peek_script: Script::new(PEEK_LUA),
            local: LocalLimiter::default(),
            down_until_ms: AtomicU64::new(0),
            leases: Mutex::new(HashMap::new()),
        }
    }

    /// Runs one of the GCRA scripts on `key` with the quota's interval and burst and `args`
    /// after them; `None` while Redis is unreachable (marked down for a second at the first
    /// failure, so the callers decide in process meanwhile).
    async fn eval(&self, script: &Script, key: &str, quota: Quota, args: [u64; 2]) -> Option<(i64, i64, i64, i64)> {
        if epoch_ms() < self.down_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let k = self.redis.key(key);
        let interval = quota.interval_ms();
        let burst = interval * u64::from(quota.limit.max(1));
        let result = self
            .redis
            .run(|mut c| async move {
                script.key(k).arg(interval).arg(burst).arg(args[0]).arg(args[1]).invoke_async(&mut c).await
            })
            .await;
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                if self.down_until_ms.swap(epoch_ms() + 1000, Ordering::Relaxed) <= epoch_ms() {
                    tracing::warn!(error = %e, "redis unreachable; rate limiting in process");
                }
                None
            }
        }
    }

    /// Takes up to `want` cells after giving back `refund`: (cells, remaining, retry_ms, reset_ms).
    async fn take(&self, key: &str, quota: Quota, want: u32, refund: u32) -> Option<(u32, u32, u64, u64)> {
        let (cells, remaining, retry_ms, reset_ms) =
            self.eval(&self.script, key, quota, [u64::from(want), u64::from(refund)]).await?;
        Some((cells.max(0) as u32, remaining.max(0) as u32, retry_ms.max(0) as u64, reset_ms.max(0) as u64))
    }

    fn lease(&self, key: &str) -> Arc<KeyLease> {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = leases.get(key) {
            return Arc::clone(l);
        }
        if leases.len() >= 50_000 {
            // Unspent cells of dropped leases stay counted in Redis: stricter, never looser.
            leases.retain(|_, l| Arc::strong_count(l) > 1);
        }
        Arc::clone(leases.entry(key.to_owned()).or_default())
    }

    async fn check_leased(&self, key: &str, quota: Quota, cap: u32) -> Decision {
        let state = self.lease(key);
        // Most requests spend a cell under a short synchronous lock.
        if let Some(d) = spend(&mut state.lease.lock().unwrap_or_else(|p| p.into_inner()), quota) {
            return d;
        }
        // Out of cells: one request per key asks Redis; the others wait for it, then spend.
        let _refill = state.refill.lock().await;
        let (want, refund) = {
            let mut l = state.lease.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(d) = spend(&mut l, quota) {
                return d;
            }
            let live = l.until.is_some_and(|u| u > Instant::now());
            // Spent in time: take twice as many; lapsed with some left: take what was spent.
            let want = if l.cells == 0 { (l.next * 2).clamp(1, cap) } else { l.spent.clamp(1, cap) };
            let refund = if live { 0 } else { std::mem::take(&mut l.cells) };
            (want, refund)
        };
        let taken = self.take(key, quota, want, refund).await;
        let now = Instant::now();
        let mut l = state.lease.lock().unwrap_or_else(|p| p.into_inner());
        match taken {
            Some((cells, remaining, retry_ms, reset_ms)) => {
                *l = Lease {
                    cells: cells.saturating_sub(1),
                    until: Some(now + LEASE),
                    next: if cells == 0 { 0 } else { want },
                    spent: cells.min(1),
                    remaining,
                    reset_at: Some(now + Duration::from_millis(reset_ms)),
                    refused_until: (cells == 0).then(|| now + Duration::from_millis(retry_ms)),
                };
                Decision {
                    allowed: cells > 0,
                    limit: quota.limit,
                    remaining: if cells > 0 { remaining + l.cells } else { 0 },
                    retry_after: Duration::from_millis(retry_ms),
                    reset_after: Duration::from_millis(reset_ms),
                }
            }
            None => {
                *l = Lease::default();
                drop(l);
                self.local.check_now(key, quota)
            }
        }
    }
}

/// Spends a cell of a live lease, or answers a refusal still in force; `None`: ask Redis.
fn spend(l: &mut Lease, quota: Quota) -> Option<Decision> {
    let now = Instant::now();
    let reset_after = l.reset_at.map(|r| r.saturating_duration_since(now)).unwrap_or_default();
    if let Some(until) = l.refused_until.filter(|u| *u > now) {
        return Some(Decision {
            allowed: false,
            limit: quota.limit,
            remaining: 0,
            retry_after: until - now,
            reset_after,
        });
    }
    if l.cells == 0 || l.until.is_none_or(|u| u <= now) {
        return None;
    }
    l.cells -= 1;
    l.spent += 1;
    let remaining = l.remaining + l.cells;
    Some(Decision { allowed: true, limit: quota.limit, remaining, retry_after: Duration::ZERO, reset_after })
}

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[async_trait::async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Decision {
        let cap = lease_cap(quota);
        if cap > 1 {
            return self.check_leased(key, quota, cap).await;
        }
        match self.take(key, quota, 1, 0).await {
            Some((cells, remaining, retry_ms, reset_ms)) => Decision {
                allowed: cells == 1,
                limit: quota.limit,
                remaining,
                retry_after: Duration::from_millis(retry_ms),
                reset_after: Duration::from_millis(reset_ms),
            },
            None => self.local.check_now(key, quota),
        }
    }

    async fn peek(&self, key: &str, quota: Quota) -> Decision {
        // The peek script's third argument is the limit; its fourth is unused.
        match self.eval(&self.peek_script, key, quota, [u64::from(quota.limit), 0]).await {
            Some((allowed, cells, retry_ms, reset_ms)) => Decision {
                allowed: allowed == 1,
                limit: quota.limit,
                remaining: cells.max(0) as u32,
                retry_after: Duration::from_millis(retry_ms.max(0) as u64),
                reset_after: Duration::from_millis(reset_ms.max(0) as u64),
            },
            None => self.local.peek_now(key, quota),
        }
    }
}

/// The in-process limiter as a port implementation (single instance, no Redis).
#[derive(Default)]
pub struct LocalLimiterPort(LocalLimiter);

#[async_trait::async_trait]
impl RateLimiter for LocalLimiterPort {
    async fn check(&self, key: &str, quota: Quota) -> Decision {
        self.0.check_now(key, quota)
    }

    async fn peek(&self, key: &str, quota: Quota) -> Decision {
        self.0.peek_now(key, quota)
    }
}
