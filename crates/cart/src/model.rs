use primitives::{Currency, Money};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

pub const MAX_QUANTITY: i32 = 99;
pub const MAX_LINES: usize = 100;

/// A cart line as stored, with the current state of its variant.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSnapshot {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub product_slug: String,
    pub name: String,
    pub sku: String,
    pub options: Map<String, Value>,
    pub unit_price_minor: i64,
    pub currency: Currency,
    pub quantity: i32,
    /// Current stock of the variant.
    pub stock: i32,
    /// Variant active and product active.
    pub purchasable: bool,
}

/// Why a line cannot be bought as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LineIssue {
    /// The product or variant is no longer sold.
    Unavailable,
    OutOfStock,
    /// Fewer in stock than the quantity asked for.
    InsufficientStock,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PricedLine {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub product_slug: String,
    pub name: String,
    pub sku: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub options: Map<String, Value>,
    pub unit_price: Money,
    pub quantity: i32,
    pub line_total: Money,
    /// How many can be bought right now (0 when unavailable).
    pub available_quantity: i32,
    /// Set when the line cannot be checked out as it is; such lines are flagged, never dropped.
    pub issue: Option<LineIssue>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CartView {
    /// Present for a guest cart that was just created: send it back as `X-Cart-Token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cart_token: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "EUR"))]
    pub currency: Option<Currency>,
    pub lines: Vec<PricedLine>,
    pub item_count: i32,
    pub subtotal: Option<Money>,
    /// With `shipping_method` (and `country`) given.
    pub shipping: Option<Money>,
    pub tax: Option<Money>,
    pub total: Option<Money>,
    /// No line has an issue and the cart is not empty.
    pub checkout_ready: bool,
}

#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddLine {
    #[garde(skip)]
    pub variant_id: Uuid,
    #[garde(range(min = 1, max = 99))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 99))]
    pub quantity: i32,
}

#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    #[garde(range(min = 1, max = 99))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 99))]
    pub quantity: i32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShippingMethod {
    pub id: Uuid,
    pub name: String,
    pub price: Money,
    /// ISO 3166-1 alpha-2 codes it ships to; empty means everywhere.
    pub countries: Vec<String>,
    pub active: bool,
}

impl ShippingMethod {
    pub fn ships_to(&self, country: &str) -> bool {
        self.active && (self.countries.is_empty() || self.countries.iter().any(|c| c == country))
    }
}

fn valid_countries(value: &[String], _: &()) -> garde::Result {
    if value.len() > 250 {
        return Err(garde::Error::new("at most 250 countries"));
    }
    if value.iter().all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())) {
        Ok(())
    } else {
        Err(garde::Error::new("each must be an ISO 3166-1 alpha-2 code such as DE"))
    }
}

fn opt_countries(value: &Option<Vec<String>>, ctx: &()) -> garde::Result {
    value.as_ref().map_or(Ok(()), |v| valid_countries(v, ctx))
}

/// The rules of [`valid_countries`] as a schema.
#[cfg(feature = "openapi")]
fn countries_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    primitives::openapi::string_array(250, 2, "^[A-Z]{2}$", false)
}

#[cfg(feature = "openapi")]
fn opt_countries_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    primitives::openapi::string_array(250, 2, "^[A-Z]{2}$", true)
}

fn currency_code(value: &str, _: &()) -> garde::Result {
    value.parse::<Currency>().map(|_| ()).map_err(|_| garde::Error::new("must be an ISO 4217 code such as EUR"))
}

fn valid_name(value: &str, _: &()) -> garde::Result {
    if value.trim().is_empty() || value.chars().any(char::is_control) {
        Err(garde::Error::new("must be non-blank text without control characters"))
    } else {
        Ok(())
    }
}

fn opt_name(value: &Option<String>, ctx: &()) -> garde::Result {
    value.as_deref().map_or(Ok(()), |v| valid_name(v, ctx))
}

#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewShippingMethod {
    #[garde(length(chars, min = 1, max = 100), custom(valid_name))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    #[garde(range(min = 0, max = 100_000_000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100000000))]
    pub price_minor: i64,
    #[garde(custom(currency_code))]
    #[cfg_attr(feature = "openapi", schema(min_length = 3, max_length = 3, pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    #[serde(default)]
    #[garde(custom(valid_countries))]
    #[cfg_attr(feature = "openapi", schema(schema_with = countries_schema))]
    pub countries: Vec<String>,
    #[serde(default = "yes")]
    #[garde(skip)]
    pub active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ShippingMethodPatch {
    #[garde(inner(length(chars, min = 1, max = 100)), custom(opt_name))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    #[garde(inner(range(min = 0, max = 100_000_000)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100000000))]
    pub price_minor: Option<i64>,
    #[garde(custom(opt_countries))]
    #[cfg_attr(feature = "openapi", schema(schema_with = opt_countries_schema))]
    pub countries: Option<Vec<String>>,
    #[garde(skip)]
    pub active: Option<bool>,
}
