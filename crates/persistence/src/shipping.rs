//! Adapter for `cart::ShippingRepo`.

use cart::{NewShippingMethod, ShippingMethod, ShippingMethodPatch, ShippingRepo};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use primitives::{Money, StorageError};
use uuid::Uuid;

use crate::Db;
use crate::error::OrStorage;
use crate::rows::currency;
use crate::schema::shipping_methods;

pub struct PgShippingRepo {
    db: Db,
}

impl PgShippingRepo {
    pub fn new(db: Db) -> Self {
        PgShippingRepo { db }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = shipping_methods, check_for_backend(Pg))]
struct MethodRow {
    id: Uuid,
    name: String,
    price_minor: i64,
    currency: String,
    countries: Vec<String>,
    active: bool,
}

impl TryFrom<MethodRow> for ShippingMethod {
    type Error = diesel::result::Error;
    fn try_from(r: MethodRow) -> QueryResult<Self> {
        Ok(ShippingMethod {
            id: r.id,
            name: r.name,
            price: Money::new(r.price_minor, currency(&r.currency)?),
            countries: r.countries,
            active: r.active,
        })
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = shipping_methods)]
struct MethodChanges<'a> {
    name: Option<&'a str>,
    price_minor: Option<i64>,
    countries: Option<&'a [String]>,
    active: Option<bool>,
}

#[async_trait::async_trait]
impl ShippingRepo for PgShippingRepo {
    async fn list(&self, active_only: bool) -> Result<Vec<ShippingMethod>, StorageError> {
        let mut conn = self.db.conn().await?;
        let mut q = shipping_methods::table.select(MethodRow::as_select()).into_boxed();
        if active_only {
            q = q.filter(shipping_methods::active);
        }
        let rows: Vec<MethodRow> =
            q.order((shipping_methods::price_minor, shipping_methods::name)).load(&mut conn).await.storage()?;
        rows.into_iter().map(ShippingMethod::try_from).collect::<QueryResult<_>>().storage()
    }

    async fn get(&self, id: Uuid) -> Result<Option<ShippingMethod>, StorageError> {
        let mut conn = self.db.conn().await?;
        let row: Option<MethodRow> = shipping_methods::table
            .find(id)
            .select(MethodRow::as_select())
            .first(&mut conn)
            .await
            .optional()
            .storage()?;
        row.map(ShippingMethod::try_from).transpose().storage()
    }

    async fn create(&self, m: &NewShippingMethod) -> Result<ShippingMethod, StorageError> {
        let mut conn = self.db.conn().await?;
        let row: MethodRow = diesel::insert_into(shipping_methods::table)
            .values((
                shipping_methods::id.eq(Uuid::now_v7()),
                shipping_methods::name.eq(m.name.trim()),
                shipping_methods::price_minor.eq(m.price_minor),
                shipping_methods::currency.eq(&m.currency),
                shipping_methods::countries.eq(&m.countries),
                shipping_methods::active.eq(m.active),
            ))
            .returning(MethodRow::as_returning())
            .get_result(&mut conn)
            .await
            .storage()?;
        row.try_into().storage()
    }

    async fn update(&self, id: Uuid, p: &ShippingMethodPatch) -> Result<Option<ShippingMethod>, StorageError> {
        let changes = MethodChanges {
            name: p.name.as_deref().map(str::trim),
            price_minor: p.price_minor,
            countries: p.countries.as_deref(),
            active: p.active,
        };
        let empty = changes.name.is_none()
            && changes.price_minor.is_none()
            && changes.countries.is_none()
            && changes.active.is_none();
        if !empty {
            let mut conn = self.db.conn().await?;
            diesel::update(shipping_methods::table.find(id)).set(&changes).execute(&mut conn).await.storage()?;
        }
        self.get(id).await
    }

    async fn delete(&self, id: Uuid) -> Result<bool, StorageError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::delete(shipping_methods::table.find(id)).execute(&mut conn).await.storage()?;
        Ok(n > 0)
    }
}
