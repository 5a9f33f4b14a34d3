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
    /// The product's category (promotions may target it).
    pub category_id: Option<Uuid>,
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
    /// The variant's option values, such as `{"size": "M"}` (any JSON values).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::HashMap<String, serde_json::Value>))]
    pub options: Map<String, Value>,
    pub unit_price: Money,
    pub quantity: i32,
    /// Unit price times quantity, before discounts.
    pub line_total: Money,
    /// What the applied promotions take off this line (their parts summed).
    pub discount: Money,
    /// `line_total` less `discount` (never below zero).
    pub discounted_total: Money,
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
    /// The lines before discounts.
    pub subtotal: Option<Money>,
    /// With `shipping_method` (and `country`) given.
    pub shipping: Option<Money>,
    /// What the promotions take off, lines and shipping together: the sum of the lines'
    /// `discount` and the shipping's part (the latter only once a shipping method is given).
    pub discount: Option<Money>,
    /// On the discounted lines and shipping.
    pub tax: Option<Money>,
    /// `subtotal + shipping - discount + tax`.
    pub total: Option<Money>,
    /// The promotions that apply, in the order they were applied.
    pub promotions: Vec<CartPromotion>,
    /// The codes entered on the cart, each with whether it applies now (checkout refuses while
    /// one does not: remove it or fix the cart).
    pub codes: Vec<CartCode>,
    /// No line has an issue and the cart is not empty.
    pub checkout_ready: bool,
}

/// A promotion applied to a cart.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CartPromotion {
    pub promotion_id: Uuid,
    pub name: String,
    /// Absent for an automatic promotion.
    pub code: Option<String>,
    /// What it takes off, lines and shipping together.
    pub amount: Money,
    /// Its part of `amount` taken off the shipping.
    pub shipping: Money,
}

/// A code entered on a cart.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CartCode {
    pub code: String,
    pub applied: bool,
    /// Why it does not apply now; the problem code checkout would answer is `promotion-` and
    /// this in kebab case (`expired` is `promotion-expired`).
    pub refused: Option<promotions::Refusal>,
}

/// At most this many codes on one cart.
pub const MAX_CODES: usize = 5;

#[derive(Debug, Clone, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplyCode {
    /// The promotion code, any case.
    #[garde(length(min = 1, max = 64))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, example = "SUMMER-25"))]
    pub code: String,
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
