//! The shop HTTP API: configuration, wiring of adapters into domain services, routes, middleware
//! and the OpenAPI document. Handlers are thin: parse, call a service, map the result.

pub mod auth;
pub mod docs_ui;
/// Shared with `shop-worker` (crates/runtime).
pub use runtime::{config, metrics, telemetry, worker};
pub mod errors;
pub mod extract;
pub mod hygiene;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod routes;
pub mod startup;
pub mod state;

pub use startup::Application;
