//! Embedded migrations, applied through diesel's synchronous harness over an async connection
//! (diesel-async's wrapper), on the blocking pool.

use diesel::sql_types::BigInt;
use diesel::{Connection, RunQueryDsl};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::DbError;

/// Every SQL migration of the product, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// The names (`<version>_<name>`) of the migrations compiled into this binary, in order.
pub fn embedded_names() -> Vec<String> {
    use diesel::migration::MigrationSource;
    <EmbeddedMigrations as MigrationSource<diesel::pg::Pg>>::migrations(&MIGRATIONS)
        .map(|ms| ms.iter().map(|m| m.name().to_string()).collect())
        .unwrap_or_default()
}

/// Key of the session-level advisory lock held while migrations run, so that instances starting
/// together apply each migration exactly once. ("shop-mig" in ASCII.)
const MIGRATION_LOCK_KEY: i64 = 0x73686f702d6d6967;

/// Applies every pending embedded migration while holding a PostgreSQL advisory lock. Instances
/// starting at the same moment queue on the lock; the first applies, the others find nothing to do.
/// Returns the versions this call applied.
pub async fn run_migrations(url: &str) -> Result<Vec<String>, DbError> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> Result<Vec<String>, DbError> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        diesel::sql_query("SELECT pg_advisory_lock($1)").bind::<BigInt, _>(MIGRATION_LOCK_KEY).execute(&mut conn)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|v| v.into_iter().map(|m| m.to_string()).collect())
            .map_err(|e| DbError::Migration(e.to_string()));
        // Unlock even when a migration failed (the session ends right after anyway).
        let _ =
            diesel::sql_query("SELECT pg_advisory_unlock($1)").bind::<BigInt, _>(MIGRATION_LOCK_KEY).execute(&mut conn);
        applied
    })
    .await
    .map_err(|e| DbError::Migration(e.to_string()))?
}
