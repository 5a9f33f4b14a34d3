//! The shop HTTP API: configuration, wiring of adapters into domain services, routes, middleware
//! and the OpenAPI document. Handlers are thin: parse, call a service, map the result.

pub mod auth;
pub mod config;
pub mod errors;
pub mod extract;
pub mod hygiene;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod worker;

pub use startup::Application;
