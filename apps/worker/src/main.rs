//! `shop-worker`: the outbox dispatcher as its own process, for deployments that keep delivery
//! off the API instances (`SHOP_OUTBOX__EMBEDDED=false` there). Same configuration as the API
//! (shop.toml, `SHOP_*`); any number of workers can run at once. Serves `/health/live`,
//! `/health/ready` and `/metrics` on `outbox.worker_listen`; stops cleanly on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use persistence::Db;
use shop_api::config::Config;
use shop_api::metrics::Metrics;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shop-worker: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if config.telemetry.service_name == "shop-api" {
        config.telemetry.service_name = "shop-worker".into();
    }
    let _telemetry = shop_api::telemetry::init(&config.telemetry);
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "fatal");
            eprintln!("shop-worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(mut config: Config) -> anyhow::Result<()> {
    shop_api::startup::prepare_database(&mut config).await?;
    let db = Db::connect(&config.db_config())?;
    let metrics = Arc::new(Metrics::new());
    let worker = shop_api::worker::Worker::start(shop_api::worker::dispatcher(&config, db.clone(), metrics.clone())?);

    let state = web::Data::new((db.clone(), metrics));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route(
                "/health/live",
                web::get().to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "up"})) }),
            )
            .route("/health/ready", web::get().to(ready))
            .route("/metrics", web::get().to(metrics_text))
    })
    .workers(1)
    .bind(&config.outbox.worker_listen)
    .with_context(|| format!("binding {}", config.outbox.worker_listen))?
    .shutdown_timeout(config.server.shutdown_timeout_secs)
    .run();
    tracing::info!(listen = %config.outbox.worker_listen, "outbox worker running");
    let result = server.await;
    worker.stop(Duration::from_secs(config.server.shutdown_timeout_secs)).await;
    db.close();
    tracing::info!("outbox worker stopped");
    Ok(result?)
}

async fn ready(state: web::Data<(Db, Arc<Metrics>)>) -> HttpResponse {
    match state.0.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready", "database": "up"})),
        Err(_) => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable", "database": "down"}))
        }
    }
}

async fn metrics_text(state: web::Data<(Db, Arc<Metrics>)>) -> HttpResponse {
    state.1.observe_pool("primary", state.0.stats());
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.1.render())
}
