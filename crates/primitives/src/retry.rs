//! Retrying a write that fails while its backend is briefly away (a database restarting).

use std::future::Future;
use std::time::Duration;

/// Runs `op` until it succeeds, pausing 100 ms after the first failure and doubling to 2 s, as
/// long as the next pause ends within `within` of the start; then returns the last error.
pub async fn retry_for<T, E, F, Fut>(within: Duration, op: F) -> Result<T, E>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = Duration::from_millis(100);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() + pause >= deadline => return Err(e),
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn retries_until_success_or_the_deadline() {
        let calls = AtomicU32::new(0);
        let ok = retry_for(Duration::from_secs(5), || async {
            if calls.fetch_add(1, Ordering::Relaxed) < 3 { Err("down") } else { Ok(7) }
        })
        .await;
        assert_eq!((ok, calls.load(Ordering::Relaxed)), (Ok(7), 4));

        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let err: Result<(), _> = retry_for(Duration::from_secs(1), || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err("down")
        })
        .await;
        // Pauses of 100, 200 and 400 ms fit in a second; the next, 800 ms, would not.
        assert_eq!((err, calls.load(Ordering::Relaxed)), (Err("down"), 4));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
