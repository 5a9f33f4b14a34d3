//! What a promotion is: who may use it, when, on what, and what it takes off.

use chrono::{DateTime, Utc};
use primitives::Currency;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A promotion's life: only `active` ones apply (inside their window); `archived` is final and
/// keeps the promotion for its usage report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionStatus {
    Draft,
    Active,
    Paused,
    Archived,
}

/// Which carts and shoppers a promotion is for. Every condition set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Conditions {
    /// The cart's subtotal (before any discount) must be at least this.
    pub min_subtotal_minor: Option<i64>,
    /// Only carts in this currency.
    pub currency: Option<Currency>,
    /// Target lines: a line matches when its product, variant or category is listed. All empty
    /// means every line matches. With targets, at least one line must match.
    pub products: Vec<Uuid>,
    pub variants: Vec<Uuid>,
    pub categories: Vec<Uuid>,
    /// Only members of this customer group (so only signed-in shoppers).
    pub customer_group: Option<Uuid>,
    /// Only shoppers who have never placed an order (so only signed-in shoppers).
    pub first_order_only: bool,
}

impl PromotionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PromotionStatus::Draft => "draft",
            PromotionStatus::Active => "active",
            PromotionStatus::Paused => "paused",
            PromotionStatus::Archived => "archived",
        }
    }

    /// The status stored as `s`; anything else is `None` (an error for the adapter, not a default).
    pub fn parse(s: &str) -> Option<Self> {
        [PromotionStatus::Draft, PromotionStatus::Active, PromotionStatus::Paused, PromotionStatus::Archived]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

impl Conditions {
    fn has_targets(&self) -> bool {
        !(self.products.is_empty() && self.variants.is_empty() && self.categories.is_empty())
    }

    /// Whether a line with this product, variant and category is a target.
    pub fn matches(&self, product_id: Uuid, variant_id: Uuid, category_id: Option<Uuid>) -> bool {
        !self.has_targets()
            || self.products.contains(&product_id)
            || self.variants.contains(&variant_id)
            || category_id.is_some_and(|c| self.categories.contains(&c))
    }
}

/// What a promotion takes off. Percentages are basis points (1..=10,000: 0.01 % to 100 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A percentage of the whole order's lines (what earlier promotions left of them).
    PercentOffOrder { percent_bp: i64 },
    /// A fixed amount off the order's lines, split over them.
    FixedOffOrder { amount_minor: i64 },
    /// A percentage of each matching line.
    PercentOffLines { percent_bp: i64 },
    /// A fixed amount off each matching unit (never more than the unit's price).
    FixedOffUnits { amount_minor: i64 },
    /// The shipping, entirely.
    FreeShipping,
    /// Of the matching units, ordered from the dearest, every `buy + get` units give the last
    /// (cheapest) `get` of them `percent_bp` off (10,000: free).
    BuyXGetY { buy: i32, get: i32, percent_bp: i64 },
}

/// A promotion as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    pub id: Uuid,
    pub name: String,
    /// The code a shopper enters (normalised: [`normalise_code`]); none for an automatic one.
    pub code: Option<String>,
    pub status: PromotionStatus,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Lower applies first; ties by id.
    pub priority: i32,
    /// Whether it applies together with other promotions.
    pub combinable: bool,
    pub conditions: Conditions,
    pub action: Action,
    /// The most it takes off one order (lines and shipping together).
    pub max_discount_minor: Option<i64>,
    /// Redemptions in all (counted when an order is placed, released when it is cancelled or
    /// its payment fails).
    pub usage_limit: Option<i64>,
    /// Redemptions per customer.
    pub per_customer_limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("must be 3 to 32 letters, digits, `-` or `_`")]
    Invalid,
}

/// A code as stored and compared: trimmed, upper case, 3 to 32 of `A-Z 0-9 - _`. Shoppers may
/// type it in any case.
pub fn normalise_code(code: &str) -> Result<String, CodeError> {
    let code = code.trim().to_ascii_uppercase();
    let ok =
        (3..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(code) } else { Err(CodeError::Invalid) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised_or_refused() {
        assert_eq!(normalise_code("  summer-25 ").as_deref(), Ok("SUMMER-25"));
        assert_eq!(normalise_code("ab_9").as_deref(), Ok("AB_9"));
        for bad in ["", "ab", "a b c", "émile", "x".repeat(33).as_str(), "semi;colon"] {
            assert_eq!(normalise_code(bad), Err(CodeError::Invalid), "{bad}");
        }
    }

    #[test]
    fn targets_match_by_product_variant_or_category() {
        let (p, v, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let other = Uuid::from_u128(9);
        assert!(Conditions::default().matches(other, other, None), "no targets: every line");
        let by_product = Conditions { products: vec![p], ..Default::default() };
        assert!(by_product.matches(p, other, None) && !by_product.matches(other, v, Some(c)));
        let by_variant = Conditions { variants: vec![v], ..Default::default() };
        assert!(by_variant.matches(other, v, None) && !by_variant.matches(p, other, None));
        let by_category = Conditions { categories: vec![c], ..Default::default() };
        assert!(by_category.matches(other, other, Some(c)) && !by_category.matches(other, other, None));
    }
}
