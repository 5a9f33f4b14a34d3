use chrono::{DateTime, Utc};
use primitives::{Currency, Money};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    Draft,
    Active,
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Draft => "draft",
            ProductStatus::Active => "active",
            ProductStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(ProductStatus::Draft),
            "active" => Some(ProductStatus::Active),
            "archived" => Some(ProductStatus::Archived),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Category {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub position: i32,
}

/// A category with its sub-categories, ordered by position then name.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryNode {
    #[serde(flatten)]
    pub category: Category,
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub children: Vec<CategoryNode>,
}

/// Builds the forest of categories from a flat list.
pub fn category_tree(mut all: Vec<Category>) -> Vec<CategoryNode> {
    all.sort_by(|a, b| (a.position, &a.name).cmp(&(b.position, &b.name)));
    fn children_of(parent: Option<Uuid>, all: &[Category]) -> Vec<CategoryNode> {
        all.iter()
            .filter(|c| c.parent_id == parent)
            .map(|c| CategoryNode { category: c.clone(), children: children_of(Some(c.id), all) })
            .collect()
    }
    children_of(None, &all)
}

/// Ids of a category and all its descendants.
pub fn descendants(root: Uuid, all: &[Category]) -> Vec<Uuid> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(all.iter().filter(|c| c.parent_id == Some(parent)).map(|c| c.id));
        i += 1;
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryRef {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Variant {
    pub id: Uuid,
    pub sku: String,
    /// Option values such as `{"size": "M", "colour": "red"}`.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::HashMap<String, serde_json::Value>))]
    pub options: Map<String, Value>,
    pub price: Money,
    pub compare_at_price: Option<Money>,
    pub stock: i32,
    pub active: bool,
    pub position: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub status: ProductStatus,
    pub category: Option<CategoryRef>,
    pub brand: Option<String>,
    /// Free-form attributes such as `{"material": "cotton"}` (any JSON values).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::HashMap<String, serde_json::Value>))]
    pub attributes: Map<String, Value>,
    pub images: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "EUR"))]
    pub currency: Currency,
    pub rating_count: i32,
    pub rating_sum: i32,
    pub version: i32,
    pub variants: Vec<Variant>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Product {
    /// Mean rating rounded to two decimals; `None` without reviews.
    pub fn rating_average(&self) -> Option<f64> {
        rating_average(self.rating_sum, self.rating_count)
    }
}

pub fn rating_average(sum: i32, count: i32) -> Option<f64> {
    (count > 0).then(|| (f64::from(sum) / f64::from(count) * 100.0).round() / 100.0)
}

/// A product as listed (no variants; price range and availability).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub brand: Option<String>,
    pub category_id: Option<Uuid>,
    pub image: Option<String>,
    pub price_min: Money,
    pub price_max: Money,
    pub in_stock: bool,
    pub rating_average: Option<f64>,
    pub rating_count: i32,
    pub created_at: DateTime<Utc>,
    /// Sort key of the listing: relevance score when searching.
    #[serde(skip)]
    pub rank: f64,
}

/// An active product as a search index holds it: what listings show, filter and sort by, and the
/// text it is found by.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedProduct {
    pub summary: ProductSummary,
    pub description: String,
    /// For the exact average of the rating sort (the summary's is rounded).
    pub rating_sum: i32,
}

/// Why stock changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StockReason {
    Initial,
    Restock,
    Adjustment,
    Sale,
    Cancellation,
    /// Units of a refund put back in stock.
    Refund,
    /// Units of a return received back.
    Return,
}

impl StockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StockReason::Initial => "initial",
            StockReason::Restock => "restock",
            StockReason::Adjustment => "adjustment",
            StockReason::Sale => "sale",
            StockReason::Cancellation => "cancellation",
            StockReason::Refund => "refund",
            StockReason::Return => "return",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "initial" => StockReason::Initial,
            "restock" => StockReason::Restock,
            "adjustment" => StockReason::Adjustment,
            "sale" => StockReason::Sale,
            "cancellation" => StockReason::Cancellation,
            "refund" => StockReason::Refund,
            "return" => StockReason::Return,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerEntry {
    pub id: i64,
    pub variant_id: Uuid,
    pub delta: i32,
    pub reason: StockReason,
    pub stock_after: i32,
    pub actor_id: Option<Uuid>,
    pub order_id: Option<Uuid>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

// ---- inputs -------------------------------------------------------------------------------

fn valid_slug(value: &str, _: &()) -> garde::Result {
    let ok = !value.is_empty()
        && value.len() <= 120
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok { Ok(()) } else { Err(garde::Error::new("must be lower-case letters, digits and single hyphens")) }
}

fn opt_slug(value: &Option<String>, ctx: &()) -> garde::Result {
    value.as_deref().map_or(Ok(()), |v| valid_slug(v, ctx))
}

fn valid_text(value: &str, _: &()) -> garde::Result {
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        Err(garde::Error::new("must not contain control characters"))
    } else if value.trim().is_empty() {
        Err(garde::Error::new("must not be blank"))
    } else {
        Ok(())
    }
}

fn opt_text(value: &Option<String>, ctx: &()) -> garde::Result {
    value.as_deref().map_or(Ok(()), |v| valid_text(v, ctx))
}

fn valid_long_text(value: &str, _: &()) -> garde::Result {
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        Err(garde::Error::new("must not contain control characters"))
    } else {
        Ok(())
    }
}

fn opt_long_text(value: &Option<String>, ctx: &()) -> garde::Result {
    value.as_deref().map_or(Ok(()), |v| valid_long_text(v, ctx))
}

fn valid_image_urls(value: &Vec<String>, _: &()) -> garde::Result {
    if value.len() > 20 {
        return Err(garde::Error::new("at most 20 images"));
    }
    for v in value {
        if !(v.starts_with("https://") || v.starts_with("http://"))
            || v.len() > 2048
            || v.chars().any(char::is_whitespace)
        {
            return Err(garde::Error::new("each image must be an http(s) URL without spaces"));
        }
    }
    Ok(())
}

fn opt_image_urls(value: &Option<Vec<String>>, ctx: &()) -> garde::Result {
    value.as_ref().map_or(Ok(()), |v| valid_image_urls(v, ctx))
}

/// The rules of [`valid_image_urls`] as a schema.
#[cfg(feature = "openapi")]
fn image_urls_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    primitives::openapi::string_array(20, 2048, "^https?://\\S+$", false)
}

#[cfg(feature = "openapi")]
fn opt_image_urls_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    primitives::openapi::string_array(20, 2048, "^https?://\\S+$", true)
}

fn valid_small_object(value: &Map<String, Value>, _: &()) -> garde::Result {
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    if value.len() > 50 || size > 8192 { Err(garde::Error::new("at most 50 keys and 8 KiB")) } else { Ok(()) }
}

fn opt_small_object(value: &Option<Map<String, Value>>, ctx: &()) -> garde::Result {
    value.as_ref().map_or(Ok(()), |v| valid_small_object(v, ctx))
}

fn valid_currency(value: &str, _: &()) -> garde::Result {
    value.parse::<Currency>().map(|_| ()).map_err(|_| garde::Error::new("must be an ISO 4217 code such as EUR"))
}

fn valid_price(value: &i64, _: &()) -> garde::Result {
    if (0..=100_000_000_000).contains(value) { Ok(()) } else { Err(garde::Error::new("must be 0 to 1,000,000,000.00")) }
}

fn opt_price(value: &Option<i64>, ctx: &()) -> garde::Result {
    value.as_ref().map_or(Ok(()), |v| valid_price(v, ctx))
}

#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    #[garde(custom(valid_slug))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"))]
    pub slug: String,
    #[garde(length(chars, min = 1, max = 100), custom(valid_text))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    #[serde(default)]
    #[garde(length(chars, max = 2000), custom(valid_long_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: String,
    #[garde(skip)]
    pub parent_id: Option<Uuid>,
    #[serde(default)]
    #[garde(range(min = -100000, max = 100000))]
    #[cfg_attr(feature = "openapi", schema(minimum = -100000, maximum = 100000))]
    pub position: i32,
}

/// Changes to a category. `parent_id: null` moves it to the top level; absent leaves it.
#[derive(Debug, Clone, Default, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    #[garde(custom(opt_slug))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"))]
    pub slug: Option<String>,
    #[garde(inner(length(chars, min = 1, max = 100)), custom(opt_text))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    #[garde(inner(length(chars, max = 2000)), custom(opt_long_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    #[garde(skip)]
    pub parent_id: Option<Option<Uuid>>,
    #[garde(inner(range(min = -100000, max = 100000)))]
    #[cfg_attr(feature = "openapi", schema(minimum = -100000, maximum = 100000))]
    pub position: Option<i32>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewVariant {
    #[garde(length(min = 1, max = 64), custom(valid_sku))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub sku: String,
    /// Option values such as `{"size": "M", "colour": "red"}`: any JSON values, at most 50 keys
    /// and 8 KiB.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::HashMap<String, serde_json::Value>))]
    #[garde(custom(valid_small_object))]
    pub options: Map<String, Value>,
    /// Price in minor units of the product's currency.
    #[garde(custom(valid_price))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100000000000.0))]
    pub price_minor: i64,
    #[garde(custom(opt_price))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100000000000.0))]
    pub compare_at_minor: Option<i64>,
    /// Opening stock, recorded in the ledger as `initial`.
    #[serde(default)]
    #[garde(range(min = 0, max = 10_000_000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10000000))]
    pub stock: i32,
    #[serde(default = "yes")]
    #[garde(skip)]
    pub active: bool,
    #[serde(default)]
    #[garde(range(min = -100000, max = 100000))]
    #[cfg_attr(feature = "openapi", schema(minimum = -100000, maximum = 100000))]
    pub position: i32,
}

fn valid_sku(value: &str, _: &()) -> garde::Result {
    let ok = value.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(garde::Error::new("must be letters, digits and . _ / -, starting with a letter or digit"))
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VariantPatch {
    #[garde(inner(length(min = 1, max = 64), custom(valid_sku)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub sku: Option<String>,
    /// Replaces the option values (any JSON values, at most 50 keys and 8 KiB).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::HashMap<String, serde_json::Value>>))]
    #[garde(custom(opt_small_object))]
    pub options: Option<Map<String, Value>>,
    #[garde(custom(opt_price))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100000000000.0))]
    pub price_minor: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, minimum = 0, maximum = 100000000000.0))]
    #[garde(inner(custom(opt_price)))]
    pub compare_at_minor: Option<Option<i64>>,
    #[garde(skip)]
    pub active: Option<bool>,
    #[garde(inner(range(min = -100000, max = 100000)))]
    #[cfg_attr(feature = "openapi", schema(minimum = -100000, maximum = 100000))]
    pub position: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    #[garde(custom(valid_slug))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"))]
    pub slug: String,
    #[garde(length(chars, min = 1, max = 200), custom(valid_text))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    #[serde(default)]
    #[garde(length(chars, max = 20000), custom(valid_long_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 20000))]
    pub description: String,
    #[serde(default = "draft")]
    #[garde(skip)]
    pub status: ProductStatus,
    #[garde(skip)]
    pub category_id: Option<Uuid>,
    #[garde(inner(length(chars, min = 1, max = 100)), custom(opt_text))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub brand: Option<String>,
    /// Free-form attributes such as `{"material": "cotton"}`: any JSON values, at most 50 keys
    /// and 8 KiB.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::HashMap<String, serde_json::Value>))]
    #[garde(custom(valid_small_object))]
    pub attributes: Map<String, Value>,
    #[serde(default)]
    #[garde(custom(valid_image_urls))]
    #[cfg_attr(feature = "openapi", schema(schema_with = image_urls_schema))]
    pub images: Vec<String>,
    #[garde(custom(valid_currency))]
    #[cfg_attr(feature = "openapi", schema(example = "EUR", min_length = 3, max_length = 3, pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    /// At least one variant.
    #[garde(length(min = 1, max = 100), dive)]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub variants: Vec<NewVariant>,
}

fn draft() -> ProductStatus {
    ProductStatus::Draft
}

#[derive(Debug, Clone, Default, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[garde(custom(opt_slug))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$"))]
    pub slug: Option<String>,
    #[garde(inner(length(chars, min = 1, max = 200)), custom(opt_text))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[garde(inner(length(chars, max = 20000)), custom(opt_long_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 20000))]
    pub description: Option<String>,
    #[garde(skip)]
    pub status: Option<ProductStatus>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    #[garde(skip)]
    pub category_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, min_length = 1, max_length = 100))]
    #[garde(inner(inner(length(chars, min = 1, max = 100))))]
    pub brand: Option<Option<String>>,
    /// Replaces the attributes (any JSON values, at most 50 keys and 8 KiB).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<std::collections::HashMap<String, serde_json::Value>>))]
    #[garde(custom(opt_small_object))]
    pub attributes: Option<Map<String, Value>>,
    #[garde(custom(opt_image_urls))]
    #[cfg_attr(feature = "openapi", schema(schema_with = opt_image_urls_schema))]
    pub images: Option<Vec<String>>,
}

/// A manual stock change by an admin.
#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StockAdjustment {
    /// Signed change; the result may not go below zero.
    #[garde(range(min = -10_000_000, max = 10_000_000), custom(non_zero))]
    #[cfg_attr(feature = "openapi", schema(minimum = -10000000, maximum = 10000000))]
    pub delta: i32,
    /// Sales, cancellations and opening stock are recorded by checkout and product creation.
    #[garde(skip)]
    pub reason: ManualStockReason,
    #[garde(inner(length(chars, max = 500)), custom(opt_long_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub note: Option<String>,
}

fn non_zero(value: &i32, _: &()) -> garde::Result {
    if *value == 0 { Err(garde::Error::new("must not be zero")) } else { Ok(()) }
}

/// Why an admin changes stock by hand: the reasons of the ledger that the shop does not record
/// itself. Any other value is refused as the body is read (422 naming `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ManualStockReason {
    /// Goods received.
    Restock,
    /// A correction after a count, damage or loss.
    Adjustment,
}

impl From<ManualStockReason> for StockReason {
    fn from(r: ManualStockReason) -> Self {
        match r {
            ManualStockReason::Restock => StockReason::Restock,
            ManualStockReason::Adjustment => StockReason::Adjustment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use garde::Validate;

    fn cat(id: u128, parent: Option<u128>, pos: i32) -> Category {
        Category {
            id: Uuid::from_u128(id),
            parent_id: parent.map(Uuid::from_u128),
            slug: format!("c{id}"),
            name: format!("C{id}"),
            description: String::new(),
            position: pos,
        }
    }

    #[test]
    fn tree_and_descendants() {
        let all = vec![cat(1, None, 1), cat(2, Some(1), 0), cat(3, Some(2), 0), cat(4, None, 0)];
        let tree = category_tree(all.clone());
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[0].category.id, Uuid::from_u128(4), "ordered by position");
        assert_eq!(tree[1].children[0].children[0].category.id, Uuid::from_u128(3));
        let mut d = descendants(Uuid::from_u128(1), &all);
        d.sort();
        assert_eq!(d, vec![Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)]);
    }

    #[test]
    fn slugs_and_stock_adjustments_validate() {
        let ok = NewCategory {
            slug: "t-shirts-2".into(),
            name: "T".into(),
            description: String::new(),
            parent_id: None,
            position: 0,
        };
        assert!(ok.validate().is_ok());
        for bad in ["T-Shirts", "-a", "a-", "a--b", "a b", ""] {
            let c = NewCategory { slug: bad.into(), ..ok.clone() };
            assert!(c.validate().is_err(), "{bad}");
        }
        let adj = StockAdjustment { delta: 0, reason: ManualStockReason::Restock, note: None };
        assert!(adj.validate().is_err());
        let sale: Result<StockAdjustment, _> =
            serde_json::from_value(serde_json::json!({"delta": 5, "reason": "sale"}));
        assert!(sale.is_err(), "sales come from checkout only");
    }

    #[test]
    fn rating_average_rounds() {
        assert_eq!(rating_average(0, 0), None);
        assert_eq!(rating_average(14, 3), Some(4.67));
    }
}
