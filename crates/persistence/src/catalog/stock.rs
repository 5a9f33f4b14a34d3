//! Adapter for `catalog::StockRepo`: stock adjustments and the inventory ledger.

use catalog::{CatalogError, LedgerEntry, StockReason, StockRepo};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use primitives::PageRequest;
use uuid::Uuid;

use super::rows::*;
use super::{PgCatalogRepo, map_err};
use crate::error::{Settle, TxError};
use crate::schema::{inventory_ledger, variants};

#[async_trait::async_trait]
impl StockRepo for PgCatalogRepo {
    async fn adjust_stock(
        &self,
        variant: Uuid,
        delta: i32,
        reason: StockReason,
        actor: Option<Uuid>,
        note: Option<&str>,
    ) -> Result<(LedgerEntry, Uuid), CatalogError> {
        let mut conn = self.db.conn().await?;
        let result: Result<(LedgerEntry, Uuid), TxError<CatalogError>> = conn
            .transaction(async |conn| {
                // Under the variant's row lock the stock read here is the one the update changes;
                // `catalog::stock::adjusted` decides (never below zero, never past the maximum),
                // the CHECK constraint is the backstop.
                let locked: Option<(i32, Uuid)> = variants::table
                    .find(variant)
                    .select((variants::stock, variants::product_id))
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?;
                let Some((stock, product)) = locked else { return Err(TxError::Domain(CatalogError::NotFound)) };
                let stock_after = catalog::stock::adjusted(stock, delta).map_err(TxError::Domain)?;
                diesel::update(variants::table.find(variant))
                    .set(variants::stock.eq(stock_after))
                    .execute(conn)
                    .await?;
                let row: LedgerRow = diesel::insert_into(inventory_ledger::table)
                    .values((
                        inventory_ledger::variant_id.eq(variant),
                        inventory_ledger::delta.eq(delta),
                        inventory_ledger::reason.eq(reason.as_str()),
                        inventory_ledger::stock_after.eq(stock_after),
                        inventory_ledger::actor_id.eq(actor),
                        inventory_ledger::note.eq(note),
                    ))
                    .returning(LedgerRow::as_returning())
                    .get_result(conn)
                    .await?;
                Ok((row.try_into()?, product))
            })
            .await;
        result.settle_with(map_err)
    }

    async fn ledger(&self, variant: Uuid, page: &PageRequest<i64>) -> Result<Vec<LedgerEntry>, CatalogError> {
        let mut conn = self.db.conn().await?;
        let exists: bool = diesel::select(diesel::dsl::exists(variants::table.find(variant)))
            .get_result(&mut conn)
            .await
            .map_err(map_err)?;
        if !exists {
            return Err(CatalogError::NotFound);
        }
        let rows: Vec<LedgerRow> = inventory_ledger::table
            .filter(inventory_ledger::variant_id.eq(variant))
            .filter(inventory_ledger::id.gt(page.after.unwrap_or(0)))
            .order(inventory_ledger::id)
            .limit(page.fetch())
            .select(LedgerRow::as_select())
            .load(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(rows.into_iter().map(LedgerEntry::try_from).collect::<QueryResult<_>>().map_err(map_err)?)
    }
}
