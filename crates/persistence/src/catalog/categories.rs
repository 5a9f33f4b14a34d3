//! Adapter for `catalog::CategoryRepo`: the category tree.

use catalog::{CatalogError, Category, CategoryPatch, CategoryRepo, NewCategory};
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use super::rows::*;
use super::{PgCatalogRepo, map_err};
use crate::error::{Settle, TxError};
use crate::schema::{categories, products};

#[async_trait::async_trait]
impl CategoryRepo for PgCatalogRepo {
    async fn categories(&self) -> Result<Vec<Category>, CatalogError> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<CategoryRow> = categories::table
            .select(CategoryRow::as_select())
            .order((categories::position, categories::name))
            .load(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(rows.into_iter().map(Category::from).collect())
    }

    async fn create_category(&self, c: &NewCategory) -> Result<Category, CatalogError> {
        let mut conn = self.db.conn().await?;
        let row: CategoryRow = diesel::insert_into(categories::table)
            .values((
                categories::id.eq(Uuid::now_v7()),
                categories::parent_id.eq(c.parent_id),
                categories::slug.eq(&c.slug),
                categories::name.eq(c.name.trim()),
                categories::description.eq(&c.description),
                categories::position.eq(c.position),
            ))
            .returning(CategoryRow::as_returning())
            .get_result(&mut conn)
            .await
            .map_err(map_err)?;
        Ok(row.into())
    }

    async fn update_category(&self, id: Uuid, p: &CategoryPatch) -> Result<Category, CatalogError> {
        let mut conn = self.db.conn().await?;
        let changes = CategoryChanges {
            slug: p.slug.as_deref(),
            name: p.name.as_deref().map(str::trim),
            description: p.description.as_deref(),
            parent_id: p.parent_id,
            position: p.position,
        };
        let result: Result<CategoryRow, TxError<CatalogError>> = conn
            .transaction(async |conn| {
                // Moves are serialised so two concurrent moves cannot build a cycle together.
                diesel::sql_query("SELECT pg_advisory_xact_lock(7368757065725)").execute(conn).await?;
                let exists: Option<Uuid> =
                    categories::table.find(id).select(categories::id).for_update().first(conn).await.optional()?;
                if exists.is_none() {
                    return Err(TxError::Domain(CatalogError::NotFound));
                }
                if let Some(Some(parent)) = p.parent_id {
                    #[derive(QueryableByName)]
                    struct Ancestor {
                        #[diesel(sql_type = SqlUuid)]
                        id: Uuid,
                    }
                    let ancestors: Vec<Ancestor> = diesel::sql_query(
                        "WITH RECURSIVE up AS (SELECT id, parent_id FROM categories WHERE id = $1 \
                         UNION ALL SELECT c.id, c.parent_id FROM categories c JOIN up ON c.id = up.parent_id) \
                         SELECT id FROM up",
                    )
                    .bind::<SqlUuid, _>(parent)
                    .load(conn)
                    .await?;
                    if ancestors.is_empty() {
                        return Err(TxError::Domain(CatalogError::UnknownParent));
                    }
                    if ancestors.iter().any(|a| a.id == id) {
                        return Err(TxError::Domain(CatalogError::CategoryCycle));
                    }
                }
                let no_changes = changes.slug.is_none()
                    && changes.name.is_none()
                    && changes.description.is_none()
                    && changes.parent_id.is_none()
                    && changes.position.is_none();
                let row = if no_changes {
                    categories::table.find(id).select(CategoryRow::as_select()).first(conn).await?
                } else {
                    diesel::update(categories::table.find(id))
                        .set(&changes)
                        .returning(CategoryRow::as_returning())
                        .get_result(conn)
                        .await?
                };
                Ok(row)
            })
            .await;
        Ok(result.settle_with(map_err)?.into())
    }

    async fn delete_category(&self, id: Uuid) -> Result<(), CatalogError> {
        let mut conn = self.db.conn().await?;
        let result: Result<(), TxError<CatalogError>> = conn
            .transaction(async |conn| {
                let exists: Option<Uuid> =
                    categories::table.find(id).select(categories::id).for_update().first(conn).await.optional()?;
                if exists.is_none() {
                    return Err(TxError::Domain(CatalogError::NotFound));
                }
                let children: bool =
                    diesel::select(diesel::dsl::exists(categories::table.filter(categories::parent_id.eq(id))))
                        .get_result(conn)
                        .await?;
                let used: bool =
                    diesel::select(diesel::dsl::exists(products::table.filter(products::category_id.eq(id))))
                        .get_result(conn)
                        .await?;
                if children || used {
                    return Err(TxError::Domain(CatalogError::CategoryNotEmpty));
                }
                diesel::delete(categories::table.find(id)).execute(conn).await?;
                Ok(())
            })
            .await;
        result.settle_with(map_err)
    }
}
