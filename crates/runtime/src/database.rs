//! Preparing the database before either binary serves.

use std::time::Duration;

use crate::StartError;
use crate::config::Config;

/// Makes sure the configured database exists and is migrated. In the dev profile, when no server
/// answers at the configured URL, starts a private one under `database.embedded_dir` and points
/// the configuration at it.
pub async fn prepare_database(config: &mut Config) -> Result<(), StartError> {
    let db = &mut config.database;
    if db.embedded && !persistence::db::server_reachable(&db.url, Duration::from_millis(db.connect_timeout_ms)).await {
        let (_, name) = persistence::db::maintenance_url(&db.url).map_err(|e| StartError::step("database.url", e))?;
        tracing::warn!(url = %db.url, dir = %db.embedded_dir, "PostgreSQL unreachable; starting a private server");
        let (dir, port) = (db.embedded_dir.clone(), db.embedded_port);
        let local = tokio::task::spawn_blocking(move || localpg::start(std::path::Path::new(&dir), port))
            .await
            .map_err(|e| StartError::step("starting a private PostgreSQL", e))?
            .map_err(|e| StartError::step("starting a private PostgreSQL", e))?;
        db.url = local.url(&name);
    }
    if db.create_if_missing
        && persistence::db::ensure_database(&db.url).await.map_err(|e| StartError::step("creating the database", e))?
    {
        tracing::info!("created database");
    }
    let applied =
        persistence::db::run_migrations(&db.url).await.map_err(|e| StartError::step("applying migrations", e))?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    Ok(())
}
