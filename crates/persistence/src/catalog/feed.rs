//! Adapter for `catalog::CatalogFeed`: the `catalog_changes` table that triggers on products and
//! variants fill (migration 000080), read by transaction horizon.
//!
//! Reading from the horizon: a change row carries its transaction's id. A read returns the rows
//! of transactions at or above the horizon it was given, and the oldest transaction still running
//! in its own snapshot (`pg_snapshot_xmin`) as the next horizon. Every transaction below that has
//! ended, and the rows of those that committed were in the read; a transaction at or above it
//! that commits later is read next time. Rows are read more than once; their `seq` tells them
//! apart.

use catalog::{CatalogError, CatalogFeed, FeedChange, IndexedProduct};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::listing::{SUMMARY_COLUMNS, SummaryRow};
use super::{PgCatalogRepo, map_err};
use crate::schema::catalog_changes;

#[derive(QueryableByName)]
struct FeedRow {
    #[diesel(embed)]
    summary: SummaryRow,
    #[diesel(sql_type = Text)]
    description: String,
}

impl FeedRow {
    fn product(self) -> QueryResult<IndexedProduct> {
        let rating_sum = self.summary.rating_sum();
        Ok(IndexedProduct { summary: self.summary.summary()?, description: self.description, rating_sum })
    }
}

#[derive(QueryableByName)]
struct Horizon {
    #[diesel(sql_type = BigInt)]
    horizon: i64,
}

const HORIZON: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon";

fn products_sql(filter: &str) -> String {
    format!(
        "SELECT {SUMMARY_COLUMNS}, 0::float8 AS rank, p.description FROM products p WHERE p.status = 'active'{filter}"
    )
}

fn decode(rows: Vec<FeedRow>) -> QueryResult<Vec<IndexedProduct>> {
    rows.into_iter().map(FeedRow::product).collect()
}

#[async_trait::async_trait]
impl CatalogFeed for PgCatalogRepo {
    async fn snapshot(&self) -> Result<(Vec<IndexedProduct>, u64), CatalogError> {
        let mut conn = self.db.conn().await?;
        // One snapshot for the products and the horizon (REPEATABLE READ: the first statement's
        // snapshot serves the whole transaction).
        let (rows, horizon) = conn
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run(async |conn| {
                let h: Horizon = diesel::sql_query(HORIZON).get_result(conn).await?;
                let rows: Vec<FeedRow> = diesel::sql_query(products_sql("")).load(conn).await?;
                Ok::<_, diesel::result::Error>((rows, h.horizon))
            })
            .await
            .map_err(map_err)?;
        Ok((decode(rows).map_err(map_err)?, horizon.max(0) as u64))
    }

    async fn changes(&self, horizon: u64) -> Result<(Vec<FeedChange>, u64), CatalogError> {
        let mut conn = self.db.conn().await?;
        let from = i64::try_from(horizon).unwrap_or(i64::MAX);
        let (rows, next) = conn
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run(async |conn| {
                let h: Horizon = diesel::sql_query(HORIZON).get_result(conn).await?;
                let rows: Vec<(i64, i64, Option<Uuid>)> = catalog_changes::table
                    .filter(catalog_changes::xid.ge(from))
                    .order(catalog_changes::seq)
                    .select((catalog_changes::seq, catalog_changes::xid, catalog_changes::product_id))
                    .load(conn)
                    .await?;
                Ok::<_, diesel::result::Error>((rows, h.horizon))
            })
            .await
            .map_err(map_err)?;
        let changes =
            rows.into_iter().map(|(seq, xid, product)| FeedChange { seq, xid: xid.max(0) as u64, product }).collect();
        // The horizon never moves back (a read on a lagging connection cannot undo progress).
        Ok((changes, (next.max(0) as u64).max(horizon)))
    }

    async fn products(&self, ids: &[Uuid]) -> Result<Vec<IndexedProduct>, CatalogError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<FeedRow> = diesel::sql_query(products_sql(" AND p.id = ANY($1)"))
            .bind::<Array<SqlUuid>, _>(ids)
            .load(&mut conn)
            .await
            .map_err(map_err)?;
        decode(rows).map_err(map_err)
    }

    async fn request_rebuild(&self) -> Result<(), CatalogError> {
        let mut conn = self.db.conn().await?;
        diesel::insert_into(catalog_changes::table)
            .values(catalog_changes::product_id.eq(None::<Uuid>))
            .execute(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn prune(&self, older_than_secs: i64) -> Result<u64, CatalogError> {
        let mut conn = self.db.conn().await?;
        let cutoff = chrono::Utc::now() - chrono::Duration::seconds(older_than_secs);
        let n = diesel::delete(catalog_changes::table.filter(catalog_changes::at.lt(cutoff)))
            .execute(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(n as u64)
    }
}
