//! The Redis adapters against the real Redis of this machine (127.0.0.1:6379, or `SHOP_TEST_REDIS_URL`),
//! each test under a key prefix of its own; two adapters on one prefix stand for two instances.

use std::time::{Duration, Instant};

use primitives::{Cache, Quota, RateLimiter};
use redis_store::{NearCache, NearConfig, Redis, RedisConfig, RedisLimiter};

fn redis(test: &str) -> Redis {
    let url = std::env::var("SHOP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    Redis::new(&RedisConfig {
        url,
        key_prefix: format!("test:{test}:{nanos}:"),
        pool_size: 1,
        timeout: Duration::from_millis(500),
    })
    .expect("redis client")
}

async fn allowed(limiter: &RedisLimiter, key: &str, quota: Quota, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        ok += usize::from(limiter.check(key, quota).await.allowed);
    }
    ok
}

#[tokio::test]
async fn leased_cells_never_admit_more_than_the_quota() {
    let r = redis("lease-total");
    let quota = Quota::new(200, 60);
    let one = RedisLimiter::new(r.clone());
    assert_eq!(allowed(&one, "k", quota, 260).await, 200, "one instance spends every cell it takes");

    let r = redis("lease-shared");
    let (a, b) = (RedisLimiter::new(r.clone()), RedisLimiter::new(r));
    let mut ok = 0;
    for _ in 0..130 {
        ok += allowed(&a, "k", quota, 1).await + allowed(&b, "k", quota, 1).await;
    }
    // Cells one instance holds unspent are refused to the other: at most a lease (10) early.
    assert!((190..=200).contains(&ok), "{ok} admitted across two instances");
    let refused = b.check("k", quota).await;
    assert!(!refused.allowed && refused.retry_after > Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_leases_without_exceeding_the_quota() {
    let limiter = std::sync::Arc::new(RedisLimiter::new(redis("lease-concurrent")));
    let quota = Quota::new(200, 60);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let limiter = std::sync::Arc::clone(&limiter);
            tokio::spawn(async move { allowed(&limiter, "k", quota, 5).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.expect("task");
    }
    assert_eq!(ok, 200, "every cell taken is spent, none beyond the quota");
}

#[tokio::test]
async fn small_quotas_are_exact_and_shared() {
    let r = redis("exact");
    let quota = Quota::new(30, 60);
    let (a, b) = (RedisLimiter::new(r.clone()), RedisLimiter::new(r));
    let mut ok = 0;
    for _ in 0..20 {
        ok += allowed(&a, "k", quota, 1).await + allowed(&b, "k", quota, 1).await;
    }
    assert_eq!(ok, 30);
    let first = RedisLimiter::new(redis("exact-remaining")).check("k", quota).await;
    assert_eq!((first.allowed, first.remaining), (true, 29));
}

/// `peek` (the login throttle's question "may this client try?") counts nothing, agrees with what
/// `check` has counted, on every instance, and refuses once the quota is spent.
#[tokio::test]
async fn peeking_counts_nothing_and_sees_what_others_counted() {
    let r = redis("peek");
    let quota = Quota::new(3, 60);
    let (a, b) = (RedisLimiter::new(r.clone()), RedisLimiter::new(r));
    for _ in 0..5 {
        let p = a.peek("k", quota).await;
        assert_eq!((p.allowed, p.remaining), (true, 3), "peeking spends no cell");
    }
    b.check("k", quota).await;
    assert_eq!(a.peek("k", quota).await.remaining, 2, "another instance's count is seen");
    b.check("k", quota).await;
    b.check("k", quota).await;
    let p = a.peek("k", quota).await;
    assert!(!p.allowed && p.retry_after > Duration::ZERO, "spent: {p:?}");
    assert!(!b.check("k", quota).await.allowed, "check agrees with peek");
}

#[tokio::test]
async fn a_lapsed_lease_gives_its_unspent_cells_back() {
    let r = redis("refund");
    let quota = Quota::new(100, 60); // one cell per 600 ms, leases of at most 5
    let a = RedisLimiter::new(r.clone());
    // Leases of 1, 2, 4: seven cells taken, four spent, three unspent.
    assert_eq!(allowed(&a, "k", quota, 4).await, 4);
    let probe = RedisLimiter::new(r.clone()).check("k", quota).await;
    assert!((92..=93).contains(&probe.remaining), "{probe:?}"); // 100 - 7 - 1, plus any cell regained
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The lease lapsed: the next request gives back three and takes one.
    assert!(a.check("k", quota).await.allowed);
    let probe = RedisLimiter::new(r).check("k", quota).await;
    // Taken: 7 - 3 + 1 by `a`, 1 + 1 by the probes: 93 left, plus a cell regained per 600 ms
    // since the first (without the refund: 90).
    assert!(probe.remaining >= 93, "{probe:?}");
}

async fn until_live(cache: &NearCache) {
    let start = Instant::now();
    while !cache.live() {
        assert!(start.elapsed() < Duration::from_secs(5), "near cache never subscribed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn near_copies_are_dropped_when_another_instance_invalidates() {
    let r = redis("near");
    let cfg = NearConfig { ttl: Duration::from_secs(60), max_bytes: 1 << 20 };
    let (a, b) = (NearCache::new(r.clone(), cfg), NearCache::new(r.clone(), cfg));
    until_live(&a).await;
    until_live(&b).await;
    // Past the subscription's first health checks (a ping each second): still live.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(a.live() && b.live());

    let g = b.generation("k").await.unwrap();
    assert!(b.set_if_generation("k", b"v1", Duration::from_secs(60), g).await.unwrap());
    assert_eq!(a.get("k").await.unwrap().as_deref(), Some(&b"v1"[..])); // `a` keeps a copy
    // Redis changes behind `a`'s back (no invalidation): `a` serves its copy without asking, also
    // after its subscription has been checked again.
    let k = r.key("k");
    r.run(|mut c| async move { redis::cmd("SET").arg(k).arg("other").query_async::<()>(&mut c).await }).await.unwrap();
    assert_eq!(a.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(a.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));

    // An invalidation on `b` reaches `a` through pub/sub.
    b.invalidate("k").await.unwrap();
    let start = Instant::now();
    loop {
        let seen = a.get("k").await.unwrap();
        if seen.is_none() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(2), "`a` still serves {seen:?} after the invalidation");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A fill with the generation read before the invalidation is refused everywhere.
    assert!(!a.set_if_generation("k", b"stale", Duration::from_secs(60), g).await.unwrap());
    assert_eq!(b.get("k").await.unwrap(), None);
}
