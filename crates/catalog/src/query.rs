//! The listing and search query: filters, sorts, and keyset cursors bound to their sort.

use primitives::{Cursor, CursorTime, Money, Page};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ProductSummary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first; only with `q`.
    Relevance,
    PriceAsc,
    PriceDesc,
    #[default]
    Newest,
    /// Highest average rating first.
    Rating,
}

/// The position after the last item of a page, in the terms of its sort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SortKey {
    Relevance(f64),
    Price(i64),
    Newest(CursorTime),
    Rating(f64, i32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListingCursor {
    pub key: SortKey,
    pub id: Uuid,
    /// The search matched names by similarity (no full-text match): later pages must too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fuzzy: bool,
}

impl ListingCursor {
    pub fn after(item: &ProductSummary, sort: Sort) -> Self {
        let key = match sort {
            Sort::Relevance => SortKey::Relevance(item.rank),
            Sort::PriceAsc | Sort::PriceDesc => SortKey::Price(item.price_min.amount_minor),
            Sort::Newest => SortKey::Newest(item.created_at.into()),
            // The exact average (`rank` carries the sort expression), not the rounded one shown.
            Sort::Rating => SortKey::Rating(item.rank, item.rating_count),
        };
        ListingCursor { key, id: item.id, fuzzy: false }
    }

    pub fn encode(&self) -> String {
        Cursor::encode(self)
    }

    /// Decodes a cursor and checks it belongs to `sort`.
    pub fn decode(s: &str, sort: Sort) -> Option<Self> {
        let c: ListingCursor = Cursor::decode(s).ok()?;
        let matches = matches!(
            (&c.key, sort),
            (SortKey::Relevance(_), Sort::Relevance)
                | (SortKey::Price(_), Sort::PriceAsc | Sort::PriceDesc)
                | (SortKey::Newest(_), Sort::Newest)
                | (SortKey::Rating(..), Sort::Rating)
        );
        matches.then_some(c)
    }
}

/// A validated listing request, ready for the repository.
#[derive(Debug, Clone, Default)]
pub struct ListingQuery {
    /// Search text (full-text with typo tolerance).
    pub q: Option<String>,
    /// The category and all its descendants.
    pub categories: Option<Vec<Uuid>>,
    pub brand: Option<String>,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub in_stock: bool,
    pub sort: Sort,
    pub after: Option<ListingCursor>,
    /// Items per page; the repository fetches one more (to know whether a next page exists).
    pub limit: i64,
    /// The caller must see the latest commits (signed-in callers); otherwise a read replica,
    /// slightly behind, may answer.
    pub latest: bool,
    /// Match `q` against names by trigram similarity (typo tolerance) instead of full text.
    /// The service sets it when full text finds nothing on the first page.
    pub fuzzy: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Facet {
    /// Category id or brand name.
    pub value: String,
    pub count: i64,
}

/// A band of lowest prices and how many matches fall in it: pass `min` and `max` back as
/// `price_min` and `price_max` to list exactly those.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceFacet {
    /// Lowest price of the band, in minor units (inclusive).
    pub min: i64,
    /// Highest price of the band, in minor units (inclusive); null for the last band.
    pub max: Option<i64>,
    pub count: i64,
}

/// The price bands of the facets (minor units, inclusive); the last one is open.
pub const PRICE_BANDS: [(i64, Option<i64>); 6] =
    [(0, Some(999)), (1000, Some(2499)), (2500, Some(4999)), (5000, Some(9999)), (10000, Some(24999)), (25000, None)];

/// The band of a lowest price (prices are never negative; a negative one counts in the first).
pub fn price_band(price: i64) -> usize {
    PRICE_BANDS.iter().rposition(|(min, _)| price >= *min).unwrap_or(0)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Facets {
    pub categories: Vec<Facet>,
    pub brands: Vec<Facet>,
    /// Counts per band of lowest price, every band listed (empty ones with 0), cheapest first.
    pub prices: Vec<PriceFacet>,
    /// How many matches have a variant in stock (what `in_stock=true` lists).
    pub in_stock: i64,
}

impl Facets {
    /// The price facets from counts per band (in the order of [`PRICE_BANDS`]).
    pub fn price_bands(counts: [i64; PRICE_BANDS.len()]) -> Vec<PriceFacet> {
        PRICE_BANDS.iter().zip(counts).map(|(&(min, max), count)| PriceFacet { min, max, count }).collect()
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductPage {
    #[serde(flatten)]
    pub page: Page<ProductSummary>,
    /// Counts per category and brand over all matches (first page only).
    pub facets: Option<Facets>,
}

impl ProductSummary {
    pub fn price_range(&self) -> (Money, Money) {
        (self.price_min, self.price_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_bands_cover_every_price_once() {
        for (i, &(min, max)) in PRICE_BANDS.iter().enumerate() {
            assert_eq!(price_band(min), i);
            if let Some(max) = max {
                assert_eq!(price_band(max), i);
                assert_eq!(PRICE_BANDS[i + 1].0, max + 1, "bands are contiguous");
            }
        }
        assert_eq!(price_band(-5), 0);
        assert_eq!(price_band(i64::MAX), PRICE_BANDS.len() - 1);
    }

    #[test]
    fn cursors_are_bound_to_their_sort() {
        let c = ListingCursor { key: SortKey::Price(1999), id: Uuid::nil(), fuzzy: false };
        let s = c.encode();
        assert_eq!(ListingCursor::decode(&s, Sort::PriceAsc), Some(c.clone()));
        assert_eq!(ListingCursor::decode(&s, Sort::PriceDesc), Some(c));
        assert_eq!(ListingCursor::decode(&s, Sort::Newest), None);
        assert_eq!(ListingCursor::decode("garbage", Sort::Newest), None);
        let r = ListingCursor { key: SortKey::Relevance(0.123_456_789_012_345_6), id: Uuid::nil(), fuzzy: true };
        assert_eq!(ListingCursor::decode(&r.encode(), Sort::Relevance), Some(r), "floats round-trip exactly");
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_string_is_a_listing_cursor_or_refused(s in ".{0,600}") {
            for sort in [Sort::Relevance, Sort::PriceAsc, Sort::PriceDesc, Sort::Newest, Sort::Rating] {
                let _ = ListingCursor::decode(&s, sort);
            }
        }

        #[test]
        fn any_json_key_decodes_in_range_or_is_refused(key in prop_oneof![
            any::<i64>().prop_map(|n| serde_json::json!({"Price": n})),
            any::<f64>().prop_map(|f| serde_json::json!({"Relevance": f})),
            ".{0,40}".prop_map(|s| serde_json::json!({"Newest": s})),
            (any::<i64>(), any::<i32>()).prop_map(|(s, n)| serde_json::json!({"Newest": chrono::DateTime::from_timestamp(s / 1000, 0).map(|t| t.to_rfc3339()), "Rating": n})),
        ]) {
            let c = primitives::Cursor::encode(&serde_json::json!({"key": key, "id": uuid::Uuid::nil()}));
            for sort in [Sort::Relevance, Sort::PriceAsc, Sort::Newest, Sort::Rating] {
                if let Some(ListingCursor { key: SortKey::Newest(t), .. }) = ListingCursor::decode(&c, sort) {
                    use chrono::Datelike;
                    prop_assert!((1..=9999).contains(&t.0.year()));
                }
            }
        }
    }
}
