//! What a promotion is: who may use it, when, on what, and what it takes off.

use chrono::{DateTime, Utc};
use primitives::Currency;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A promotion's life: only `active` ones apply (inside their window); `archived` is final and
/// keeps the promotion for its usage report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PromotionStatus {
    Draft,
    Active,
    Paused,
    Archived,
}

/// Which carts and shoppers a promotion is for. Every condition set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Conditions {
    /// The cart's subtotal (before any discount) must be at least this, in `currency`.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000_000_i64))]
    pub min_subtotal_minor: Option<i64>,
    /// Only carts in this currency (ISO 4217). Required when the promotion names an amount
    /// (a fixed discount, a minimum subtotal, a cap).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "EUR", min_length = 3, max_length = 3))]
    pub currency: Option<Currency>,
    /// Target lines: a line matches when its product, variant or category is listed. All empty
    /// means every line matches. With targets, at least one line must match.
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub products: Vec<Uuid>,
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub variants: Vec<Uuid>,
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A percentage of the whole order's lines (what earlier promotions left of them).
    PercentOffOrder {
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
        percent_bp: i64,
    },
    /// A fixed amount off the order's lines, split over them.
    FixedOffOrder {
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000_000_i64))]
        amount_minor: i64,
    },
    /// A percentage of each matching line.
    PercentOffLines {
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
        percent_bp: i64,
    },
    /// A fixed amount off each matching unit (never more than the unit's price).
    FixedOffUnits {
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000_000_i64))]
        amount_minor: i64,
    },
    /// The shipping, entirely.
    FreeShipping {},
    /// Of the matching units, ordered from the dearest, every `buy + get` units give the last
    /// (cheapest) `get` of them `percent_bp` off (10,000: free).
    BuyXGetY {
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
        buy: i32,
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
        get: i32,
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
        percent_bp: i64,
    },
}

/// A promotion as the engine sees it (and as the admin API shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The most a promotion's amounts may say (10^12 minor units), and its limits.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;
pub const MAX_TARGETS: usize = 100;

/// What an admin sends to create or replace a promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PromotionInput {
    /// 1 to 200 characters; shoppers see it on their cart.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200, example = "Summer sale"))]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    /// For a code-based promotion: 3 to 32 of `A-Z 0-9 - _`, any case (stored upper case).
    /// Absent: automatic (applies to every cart that meets the conditions).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "SUMMER-25", min_length = 3, max_length = 32))]
    #[garde(skip)]
    pub code: Option<String>,
    /// `draft`, `active` or `paused` (archive with the archive operation). Default `draft`.
    #[serde(default = "draft")]
    #[garde(skip)]
    pub status: PromotionStatus,
    #[serde(default)]
    #[garde(skip)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Must be after `starts_at`.
    #[serde(default)]
    #[garde(skip)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Lower applies first (-1,000,000 to 1,000,000; default 0); ties by id.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = -1_000_000, maximum = 1_000_000))]
    #[garde(skip)]
    pub priority: i32,
    /// Default true.
    #[serde(default = "yes")]
    #[garde(skip)]
    pub combinable: bool,
    #[serde(default)]
    #[garde(skip)]
    pub conditions: Conditions,
    #[garde(skip)]
    pub action: Action,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000_000_i64))]
    #[garde(skip)]
    pub max_discount_minor: Option<i64>,
    /// Redemptions in all, 1 to 10^9.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000))]
    #[garde(skip)]
    pub usage_limit: Option<i64>,
    /// Redemptions per customer, 1 to 10^6.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    #[garde(skip)]
    pub per_customer_limit: Option<i64>,
}

fn draft() -> PromotionStatus {
    PromotionStatus::Draft
}
fn yes() -> bool {
    true
}

/// An input refused: the field (dotted path) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub message: String,
}

fn check(ok: bool, field: &'static str, message: &str) -> Result<(), InvalidInput> {
    if ok { Ok(()) } else { Err(InvalidInput { field, message: message.to_owned() }) }
}

impl PromotionInput {
    /// The promotion this input describes, or the first field that is wrong.
    pub fn into_promotion(self, id: Uuid) -> Result<Promotion, InvalidInput> {
        let name = self.name.trim().to_owned();
        check((1..=200).contains(&name.chars().count()), "name", "must be 1 to 200 characters")?;
        check(!name.chars().any(char::is_control), "name", "must not contain control characters")?;
        let code = match self.code {
            Some(c) => Some(normalise_code(&c).map_err(|e| InvalidInput { field: "code", message: e.to_string() })?),
            None => None,
        };
        check(self.status != PromotionStatus::Archived, "status", "archive with the archive operation")?;
        check(
            !matches!((self.starts_at, self.ends_at), (Some(s), Some(e)) if e <= s),
            "ends_at",
            "must be after starts_at",
        )?;
        check((-1_000_000..=1_000_000).contains(&self.priority), "priority", "must be -1000000 to 1000000")?;
        let amount = |v: i64| (1..=MAX_AMOUNT_MINOR).contains(&v);
        let bp = |v: i64| (1..=10_000).contains(&v);
        match self.action {
            Action::PercentOffOrder { percent_bp } | Action::PercentOffLines { percent_bp } => {
                check(bp(percent_bp), "action.percent_bp", "must be 1 to 10000 (0.01 % to 100 %)")?
            }
            Action::FixedOffOrder { amount_minor } | Action::FixedOffUnits { amount_minor } => {
                check(amount(amount_minor), "action.amount_minor", "must be 1 to 10^12")?
            }
            Action::FreeShipping {} => {}
            Action::BuyXGetY { buy, get, percent_bp } => {
                check((1..=100).contains(&buy), "action.buy", "must be 1 to 100")?;
                check((1..=100).contains(&get), "action.get", "must be 1 to 100")?;
                check(bp(percent_bp), "action.percent_bp", "must be 1 to 10000 (0.01 % to 100 %)")?;
            }
        }
        let c = &self.conditions;
        if let Some(min) = c.min_subtotal_minor {
            check(amount(min), "conditions.min_subtotal_minor", "must be 1 to 10^12")?;
        }
        for (field, list) in [
            ("conditions.products", &c.products),
            ("conditions.variants", &c.variants),
            ("conditions.categories", &c.categories),
        ] {
            check(list.len() <= MAX_TARGETS, field, "at most 100 ids")?;
        }
        if let Some(cap) = self.max_discount_minor {
            check(amount(cap), "max_discount_minor", "must be 1 to 10^12")?;
        }
        let names_amount = matches!(self.action, Action::FixedOffOrder { .. } | Action::FixedOffUnits { .. })
            || c.min_subtotal_minor.is_some()
            || self.max_discount_minor.is_some();
        check(
            !names_amount || c.currency.is_some(),
            "conditions.currency",
            "required when the promotion names an amount (fixed discount, minimum subtotal, cap)",
        )?;
        if let Some(l) = self.usage_limit {
            check((1..=1_000_000_000).contains(&l), "usage_limit", "must be 1 to 10^9")?;
        }
        if let Some(l) = self.per_customer_limit {
            check((1..=1_000_000).contains(&l), "per_customer_limit", "must be 1 to 10^6")?;
        }
        let mut conditions = self.conditions;
        for list in [&mut conditions.products, &mut conditions.variants, &mut conditions.categories] {
            list.sort();
            list.dedup();
        }
        Ok(Promotion {
            id,
            name,
            code,
            status: self.status,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            priority: self.priority,
            combinable: self.combinable,
            conditions,
            action: self.action,
            max_discount_minor: self.max_discount_minor,
            usage_limit: self.usage_limit,
            per_customer_limit: self.per_customer_limit,
        })
    }
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
