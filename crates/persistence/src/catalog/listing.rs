//! Adapter for `catalog::ListingRepo`: the listing and search SQL (assembled by `SqlBuilder`, every value bound) and facets.

use catalog::{
    CatalogError, Facet, Facets, ListingQuery, ListingRepo, PRICE_BANDS, ProductSummary, Sort, SortKey, rating_average,
};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use primitives::Money;
use uuid::Uuid;

use super::{PgCatalogRepo, map_err};
use crate::rows::currency;

#[async_trait::async_trait]
impl ListingRepo for PgCatalogRepo {
    async fn list(&self, q: &ListingQuery) -> Result<Vec<ProductSummary>, CatalogError> {
        match self.list_on(q, freshness(q)).await {
            // A replica that went away under the query: the primary answers instead.
            Err(CatalogError::Storage(e)) if !q.latest && e.is_unavailable() => {
                tracing::warn!(error = %e, "replica read failed; retrying on the primary");
                self.list_on(q, crate::Freshness::Latest).await
            }
            other => other,
        }
    }

    async fn facets(&self, q: &ListingQuery) -> Result<Facets, CatalogError> {
        match self.facets_on(q, freshness(q)).await {
            Err(CatalogError::Storage(e)) if !q.latest && e.is_unavailable() => {
                self.facets_on(q, crate::Freshness::Latest).await
            }
            other => other,
        }
    }
}

// ---- listing SQL -----------------------------------------------------------------------------

/// One bind value of the dynamic listing query.
enum Bind {
    Text(String),
    BigInt(i64),
    Int(i32),
    Double(f64),
    Uuid(Uuid),
    Uuids(Vec<Uuid>),
    Ts(DateTime<Utc>),
}

/// Builds the WHERE clause shared by the listing and facet queries. Every value is a bind
/// parameter; only fixed SQL text is concatenated.
struct SqlBuilder {
    sql: String,
    binds: Vec<Bind>,
}

impl SqlBuilder {
    fn new() -> Self {
        SqlBuilder { sql: String::new(), binds: Vec::new() }
    }

    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    /// `fuzzy`: match names by trigram word similarity (typo tolerance) instead of full text.
    fn filters(&mut self, q: &ListingQuery, fuzzy: bool) -> String {
        let mut w = vec!["p.status = 'active'".to_owned()];
        if let Some(text) = &q.q {
            let t = self.bind(Bind::Text(text.clone()));
            w.push(if fuzzy {
                format!("lower({t}) <% lower(p.name)")
            } else {
                format!("p.search @@ websearch_to_tsquery('english', {t})")
            });
        }
        match q.categories.as_deref() {
            // One category (a leaf): equality lets the (category_id, sort key) indexes serve the
            // order directly; `= ANY` of one element would not.
            Some([one]) => {
                let c = self.bind(Bind::Uuid(*one));
                w.push(format!("p.category_id = {c}"));
            }
            Some(cats) => {
                let c = self.bind(Bind::Uuids(cats.to_vec()));
                w.push(format!("p.category_id = ANY({c})"));
            }
            None => {}
        }
        if let Some(brand) = &q.brand {
            let b = self.bind(Bind::Text(brand.clone()));
            w.push(format!("p.brand = {b}"));
        }
        if let Some(min) = q.price_min {
            let m = self.bind(Bind::BigInt(min));
            w.push(format!("p.min_price >= {m}"));
        }
        if let Some(max) = q.price_max {
            let m = self.bind(Bind::BigInt(max));
            w.push(format!("p.min_price <= {m}"));
        }
        if q.in_stock {
            w.push(IN_STOCK.to_owned());
        }
        w.join(" AND ")
    }

    fn run(self) -> diesel::query_builder::BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
        let mut query = diesel::sql_query(self.sql).into_boxed::<Pg>();
        for b in self.binds {
            query = match b {
                Bind::Text(v) => query.bind::<Text, _>(v),
                Bind::BigInt(v) => query.bind::<BigInt, _>(v),
                Bind::Int(v) => query.bind::<Integer, _>(v),
                Bind::Double(v) => query.bind::<Double, _>(v),
                Bind::Uuid(v) => query.bind::<SqlUuid, _>(v),
                Bind::Uuids(v) => query.bind::<Array<SqlUuid>, _>(v),
                Bind::Ts(v) => query.bind::<Timestamptz, _>(v),
            };
        }
        query
    }
}

fn freshness(q: &ListingQuery) -> crate::Freshness {
    if q.latest { crate::Freshness::Latest } else { crate::Freshness::Relaxed }
}

const IN_STOCK: &str = "EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.stock > 0 AND v.active)";
const RATING_AVG: &str = "(CASE WHEN p.rating_count > 0 THEN p.rating_sum::float8 / p.rating_count ELSE 0 END)";

#[derive(QueryableByName)]
pub(super) struct SummaryRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    brand: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    category_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    image: Option<String>,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    min_price: i64,
    #[diesel(sql_type = BigInt)]
    max_price: i64,
    #[diesel(sql_type = Bool)]
    in_stock: bool,
    #[diesel(sql_type = Integer)]
    rating_count: i32,
    #[diesel(sql_type = Integer)]
    rating_sum: i32,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Double)]
    rank: f64,
}

impl SummaryRow {
    pub(super) fn summary(self) -> QueryResult<ProductSummary> {
        let cur = currency(&self.currency)?;
        Ok(ProductSummary {
            id: self.id,
            slug: self.slug,
            name: self.name,
            brand: self.brand,
            category_id: self.category_id,
            image: self.image,
            price_min: Money::new(self.min_price, cur),
            price_max: Money::new(self.max_price, cur),
            in_stock: self.in_stock,
            rating_average: rating_average(self.rating_sum, self.rating_count),
            rating_count: self.rating_count,
            created_at: self.created_at,
            rank: self.rank,
        })
    }

    pub(super) fn rating_sum(&self) -> i32 {
        self.rating_sum
    }
}

/// The columns of [`SummaryRow`] over `products p`, but its rank.
pub(super) const SUMMARY_COLUMNS: &str = "p.id, p.slug, p.name, p.brand, p.category_id, p.images[1] AS image, p.currency, \
     p.min_price, p.max_price, EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.stock > 0 AND v.active) \
     AS in_stock, p.rating_count, p.rating_sum, p.created_at";

#[derive(QueryableByName)]
struct FacetRow {
    #[diesel(sql_type = Text)]
    value: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

impl PgCatalogRepo {
    async fn list_on(
        &self,
        q: &ListingQuery,
        freshness: crate::Freshness,
    ) -> Result<Vec<ProductSummary>, CatalogError> {
        let mut conn = self.db.read_conn(freshness).await?;
        let fuzzy = q.fuzzy && q.q.is_some();
        let mut b = SqlBuilder::new();
        let filters = b.filters(q, fuzzy);
        let rank = match (q.sort, &q.q) {
            (Sort::Relevance, Some(text)) => {
                let t = b.bind(Bind::Text(text.clone()));
                if fuzzy {
                    format!("word_similarity(lower({t}), lower(p.name))::float8")
                } else {
                    format!("ts_rank_cd(p.search, websearch_to_tsquery('english', {t}))::float8")
                }
            }
            (Sort::Rating, _) => RATING_AVG.to_owned(),
            _ => "0::float8".to_owned(),
        };
        let (keyset, order) = match (q.sort, &q.after) {
            (Sort::Newest, after) => (
                after.as_ref().and_then(|c| match c.key {
                    SortKey::Newest(ts) => {
                        let (t, i) = (b.bind(Bind::Ts(ts.0)), b.bind(Bind::Uuid(c.id)));
                        Some(format!("(p.created_at, p.id) < ({t}, {i})"))
                    }
                    _ => None,
                }),
                "p.created_at DESC, p.id DESC",
            ),
            (Sort::PriceAsc, after) => (
                after.as_ref().and_then(|c| match c.key {
                    SortKey::Price(pr) => {
                        let (v, i) = (b.bind(Bind::BigInt(pr)), b.bind(Bind::Uuid(c.id)));
                        Some(format!("(p.min_price, p.id) > ({v}, {i})"))
                    }
                    _ => None,
                }),
                "p.min_price ASC, p.id ASC",
            ),
            (Sort::PriceDesc, after) => (
                after.as_ref().and_then(|c| match c.key {
                    SortKey::Price(pr) => {
                        let (v, i) = (b.bind(Bind::BigInt(pr)), b.bind(Bind::Uuid(c.id)));
                        Some(format!("(p.min_price, p.id) < ({v}, {i})"))
                    }
                    _ => None,
                }),
                "p.min_price DESC, p.id DESC",
            ),
            (Sort::Relevance, after) => (
                after.as_ref().and_then(|c| match c.key {
                    SortKey::Relevance(r) => {
                        let (v, i) = (b.bind(Bind::Double(r)), b.bind(Bind::Uuid(c.id)));
                        Some(format!("({rank}, p.id) < ({v}, {i})"))
                    }
                    _ => None,
                }),
                "rank DESC, p.id DESC",
            ),
            (Sort::Rating, after) => (
                after.as_ref().and_then(|c| match c.key {
                    SortKey::Rating(avg, count) => {
                        let (v, n, i) = (b.bind(Bind::Double(avg)), b.bind(Bind::Int(count)), b.bind(Bind::Uuid(c.id)));
                        Some(format!("({RATING_AVG}, p.rating_count, p.id) < ({v}, {n}, {i})"))
                    }
                    _ => None,
                }),
                "rank DESC, p.rating_count DESC, p.id DESC",
            ),
        };
        // One more than the page holds: `Page::cut` learns from it whether a next page exists.
        let limit = b.bind(Bind::BigInt(q.limit.saturating_add(1)));
        b.sql = format!(
            "SELECT {SUMMARY_COLUMNS}, {rank} AS rank \
             FROM products p WHERE {filters}{} ORDER BY {order} LIMIT {limit}",
            keyset.map(|k| format!(" AND {k}")).unwrap_or_default()
        );
        let rows: Vec<SummaryRow> = b.run().load(&mut conn).await.map_err(map_err)?;
        rows.into_iter().map(SummaryRow::summary).collect::<QueryResult<_>>().map_err(map_err)
    }

    async fn facets_on(&self, q: &ListingQuery, freshness: crate::Freshness) -> Result<Facets, CatalogError> {
        let mut conn = self.db.read_conn(freshness).await?;
        let fuzzy = q.fuzzy && q.q.is_some();
        let mut out = Facets::default();
        for (column, target) in [("p.category_id::text", &mut out.categories), ("p.brand", &mut out.brands)] {
            let mut b = SqlBuilder::new();
            let filters = b.filters(q, fuzzy);
            b.sql = format!(
                "SELECT {column} AS value, count(*) AS count FROM products p \
                 WHERE {filters} AND {column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50"
            );
            let rows: Vec<FacetRow> = b.run().load(&mut conn).await.map_err(map_err)?;
            *target = rows.into_iter().map(|r| Facet { value: r.value, count: r.count }).collect();
        }
        // Price bands (the band's index as the value) and the matches in stock, in one statement.
        let mut b = SqlBuilder::new();
        let filters = b.filters(q, fuzzy);
        let band = PRICE_BANDS
            .iter()
            .enumerate()
            .rev()
            .map(|(i, (min, _))| format!("WHEN p.min_price >= {} THEN '{i}'", b.bind(Bind::BigInt(*min))))
            .collect::<Vec<_>>()
            .join(" ");
        b.sql = format!(
            "SELECT CASE {band} ELSE '0' END AS value, count(*) AS count FROM products p WHERE {filters} GROUP BY 1 \
             UNION ALL SELECT 'in_stock', count(*) FROM products p WHERE {filters} AND {IN_STOCK}"
        );
        let rows: Vec<FacetRow> = b.run().load(&mut conn).await.map_err(map_err)?;
        let mut bands = [0i64; PRICE_BANDS.len()];
        for r in rows {
            match r.value.parse::<usize>() {
                Ok(i) if i < bands.len() => bands[i] = r.count,
                _ => out.in_stock = r.count,
            }
        }
        out.prices = Facets::price_bands(bands);
        Ok(out)
    }
}
