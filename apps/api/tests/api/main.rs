//! Black-box tests: the real application on a random port, a fresh PostgreSQL database per test,
//! an isolated Redis key space per test, requests over HTTP.

mod helpers;

mod accounts;
mod catalog;
mod checkout;
mod concurrency;
mod events;
mod foundation;
mod hardening;
mod hygiene;
mod identity;
mod payments;
mod promotions;
mod refunds;
mod reviews;
mod search;
mod security;
mod shipments;
