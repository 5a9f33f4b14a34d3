//! The rate-limiter port and the GCRA arithmetic shared by its adapters (the Redis Lua script
//! mirrors `gcra` exactly, so limits keep their shape when an instance falls back to memory).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `limit` requests per `period_secs`, allowing a burst of `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub limit: u32,
    pub period_secs: u64,
}

impl Quota {
    pub const fn new(limit: u32, period_secs: u64) -> Self {
        Quota { limit, period_secs }
    }

    /// Milliseconds between two requests at the sustained rate.
    pub fn interval_ms(&self) -> u64 {
        (self.period_secs * 1000 / u64::from(self.limit.max(1))).max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// How long until a request would be allowed (zero when allowed).
    pub retry_after: Duration,
    /// How long until the full burst is available again.
    pub reset_after: Duration,
}

/// Generic cell rate algorithm. `tat` is the stored theoretical arrival time (ms), `now` the
/// current time (ms). Returns the decision and the new TAT to store (None when denied).
pub fn gcra(tat: Option<u64>, now: u64, quota: Quota) -> (Decision, Option<u64>) {
    let interval = quota.interval_ms();
    let burst = interval * u64::from(quota.limit.max(1));
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat + interval;
    let allow_at = new_tat.saturating_sub(burst);
    if now < allow_at {
        let d = Decision {
            allowed: false,
            limit: quota.limit,
            remaining: 0,
            retry_after: Duration::from_millis(allow_at - now),
            reset_after: Duration::from_millis(tat - now),
        };
        return (d, None);
    }
    let remaining = ((burst - (new_tat - now)) / interval) as u32;
    let d = Decision {
        allowed: true,
        limit: quota.limit,
        remaining,
        retry_after: Duration::ZERO,
        reset_after: Duration::from_millis(new_tat - now),
    };
    (d, Some(new_tat))
}

/// What [`gcra`] would decide now, without counting anything: `allowed` when a request would be
/// admitted, `remaining` the cells available before it (the full `limit` when nothing was counted
/// within the last burst).
pub fn gcra_peek(tat: Option<u64>, now: u64, quota: Quota) -> Decision {
    let interval = quota.interval_ms();
    let burst = interval * u64::from(quota.limit.max(1));
    let tat = tat.unwrap_or(now).max(now);
    let cells = ((now + burst - tat) / interval).min(u64::from(quota.limit)) as u32;
    Decision {
        allowed: cells >= 1,
        limit: quota.limit,
        remaining: cells,
        retry_after: Duration::from_millis(if cells >= 1 { 0 } else { tat + interval - burst - now }),
        reset_after: Duration::from_millis(tat - now),
    }
}

#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request against `key` and says whether it may proceed. Never fails: an adapter
    /// whose backend is down decides locally.
    async fn check(&self, key: &str, quota: Quota) -> Decision;

    /// What `check` would decide now, counting nothing (see [`gcra_peek`]): for limits that count
    /// only some outcomes, such as failed logins. Exact for quotas under 40 per period (those are
    /// never leased ahead); never fails.
    async fn peek(&self, key: &str, quota: Quota) -> Decision;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_paces() {
        let q = Quota::new(3, 3); // 3 per 3 s: one per second, burst 3
        let mut tat = None;
        for expected_remaining in [2, 1, 0] {
            let (d, t) = gcra(tat, 10_000, q);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            tat = t;
        }
        let (d, t) = gcra(tat, 10_000, q);
        assert!(!d.allowed);
        assert_eq!(t, None);
        assert_eq!(d.retry_after, Duration::from_millis(1000));
        // One interval later one more request fits.
        let (d, _) = gcra(tat, 11_000, q);
        assert!(d.allowed);
    }

    #[test]
    fn peeking_counts_nothing_and_agrees_with_check() {
        let q = Quota::new(3, 3);
        assert_eq!(gcra_peek(None, 10_000, q).remaining, 3);
        let (_, tat) = gcra(None, 10_000, q);
        let p = gcra_peek(tat, 10_000, q);
        assert!(p.allowed);
        assert_eq!(p.remaining, 2, "one of three cells used");
        assert_eq!(gcra_peek(tat, 10_000, q), gcra_peek(tat, 10_000, q), "peeking twice is the same");
        let (_, tat) = gcra(tat, 10_000, q);
        let (_, tat) = gcra(tat, 10_000, q);
        let p = gcra_peek(tat, 10_000, q);
        assert!(!p.allowed);
        assert_eq!(p.retry_after, gcra(tat, 10_000, q).0.retry_after);
        assert_eq!(gcra_peek(tat, 13_000, q).remaining, 3, "recovered after the period");
    }
}
