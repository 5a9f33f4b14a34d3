//! Test harness shared by every black-box suite.
//!
//! * [`TestDb`]: a fresh database per test, created with `CREATE DATABASE … TEMPLATE` from a
//!   template migrated once per migration set (so a test costs a file copy, not a migration run),
//!   dropped when the test ends.
//! * [`redis_prefix`]: a unique key prefix per test, so tests share one Redis without seeing each
//!   other's keys.
//! * [`Client`]: a small typed HTTP client with bearer-token and JSON helpers.
//!
//! The PostgreSQL server comes from `SHOP_TEST_DATABASE_URL` (a server URL such as
//! `postgres://postgres@127.0.0.1:5432`, the default). When none answers, a throwaway server is
//! started under `target/testkit-pg` with the machine's PostgreSQL binaries; when there are none,
//! the harness panics with a message naming what to install.

mod client;
mod db;

pub use client::{Client, Response};
pub use db::{TestDb, server_url, sweep_leftovers};

/// A Redis URL for tests (`SHOP_TEST_REDIS_URL`, default the local server).
pub fn redis_url() -> String {
    std::env::var("SHOP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test uses.
pub fn redis_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}
