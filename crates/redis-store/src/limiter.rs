use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use primitives::rate_limit::gcra;
use primitives::{Decision, Quota, RateLimiter};
use redis::Script;

use crate::Redis;

/// GCRA in one atomic Lua call, using the Redis server's clock so every instance agrees.
/// Mirrors `primitives::rate_limit::gcra`. Returns {allowed, remaining, retry_after_ms, reset_ms}.
const GCRA_LUA: &str = r#"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, math.floor((burst - (new_tat - now)) / interval), 0, new_tat - now}
"#;

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
pub struct RedisLimiter {
    redis: Redis,
    script: Script,
    local: LocalLimiter,
    down_until_ms: AtomicU64,
}

impl RedisLimiter {
    pub fn new(redis: Redis) -> Self {
        RedisLimiter {
            redis,
            script: Script::new(GCRA_LUA),
            local: LocalLimiter::default(),
            down_until_ms: AtomicU64::new(0),
        }
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[async_trait::async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Decision {
        if epoch_ms() >= self.down_until_ms.load(Ordering::Relaxed) {
            let k = self.redis.key(key);
            let interval = quota.interval_ms();
            let burst = interval * u64::from(quota.limit.max(1));
            let script = &self.script;
            let result = self
                .redis
                .run(|mut c| async move {
                    script.key(k).arg(interval).arg(burst).invoke_async::<(i64, i64, i64, i64)>(&mut c).await
                })
                .await;
            match result {
                Ok((allowed, remaining, retry_ms, reset_ms)) => {
                    return Decision {
                        allowed: allowed == 1,
                        limit: quota.limit,
                        remaining: remaining.max(0) as u32,
                        retry_after: Duration::from_millis(retry_ms.max(0) as u64),
                        reset_after: Duration::from_millis(reset_ms.max(0) as u64),
                    };
                }
                Err(e) => {
                    if self.down_until_ms.swap(epoch_ms() + 1000, Ordering::Relaxed) <= epoch_ms() {
                        tracing::warn!(error = %e, "redis unreachable; rate limiting in process");
                    }
                }
            }
        }
        self.local.check_now(key, quota)
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
}
