//! `shop-worker`: the outbox dispatcher as its own process, for deployments that keep delivery
//! off the API instances (`SHOP_OUTBOX__EMBEDDED=false` there). Same configuration as the API
//! (shop.toml, `SHOP_*`); any number of workers can run at once. Serves `/health/live`,
//! `/health/ready` and `/metrics` on `outbox.worker_listen`; stops cleanly on SIGTERM/SIGINT.
//!
//! It links no HTTP framework: what it shares with the API is in `crates/runtime`, and its three
//! read-only endpoints are served by hyper's HTTP/1 connection handler.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use persistence::Db;
use runtime::config::Config;
use runtime::metrics::Metrics;
use tokio::net::TcpListener;

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
    let _telemetry = runtime::telemetry::init(&config.telemetry);
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
    runtime::database::prepare_database(&mut config).await?;
    let db = Db::connect(&config.db_config())?;
    let metrics = Arc::new(Metrics::new());
    let worker = runtime::worker::Worker::start(runtime::worker::dispatcher(&config, db.clone(), metrics.clone())?);

    let listener = TcpListener::bind(&config.outbox.worker_listen)
        .await
        .with_context(|| format!("binding {}", config.outbox.worker_listen))?;
    tracing::info!(listen = %config.outbox.worker_listen, "outbox worker running");
    let state = Arc::new((db.clone(), metrics));
    let serve = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| respond(state.clone(), req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "health connection ended");
                }
            });
        }
    };
    tokio::select! {
        () = serve => {}
        () = shutdown_signal() => tracing::info!("stopping"),
    }
    worker.stop(Duration::from_secs(config.server.shutdown_timeout_secs)).await;
    db.close();
    tracing::info!("outbox worker stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    res
}

async fn respond(state: Arc<(Db, Arc<Metrics>)>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    const JSON: &str = "application/json";
    if req.method() != Method::GET {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, JSON, r#"{"status":"method not allowed"}"#));
    }
    Ok(match req.uri().path() {
        "/health/live" => reply(StatusCode::OK, JSON, r#"{"status":"up"}"#),
        "/health/ready" => match state.0.ping().await {
            Ok(()) => reply(StatusCode::OK, JSON, r#"{"status":"ready","database":"up"}"#),
            Err(_) => reply(StatusCode::SERVICE_UNAVAILABLE, JSON, r#"{"status":"unavailable","database":"down"}"#),
        },
        "/metrics" => {
            state.1.observe_pool("primary", state.0.stats());
            reply(StatusCode::OK, "text/plain; version=0.0.4", state.1.render())
        }
        _ => reply(StatusCode::NOT_FOUND, JSON, r#"{"status":"not found"}"#),
    })
}
