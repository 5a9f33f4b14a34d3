//! Promotions: discount codes and automatic discounts, decided by pure functions.
//!
//! A [`Promotion`] has a window, conditions (minimum subtotal, target products, variants or
//! categories, a customer group, first order only, a currency), one action (percentage or fixed
//! amount off the order or off the matching lines, free shipping, buy X get Y) and an optional
//! cap, plus usage limits. [`evaluate`] decides, from a cart's lines and the shopper, which
//! promotions apply, in a stated order, and how much each takes off each line and the shipping;
//! the adapters only load the promotions and the usage counts, and write what it decided.
//!
//! Rules (docs/promotions.md):
//! - **Order of application**: by `priority` (lower first), then by id. Never by arrival.
//! - **Stacking**: a promotion that does not combine applies only as the first one, and then no
//!   other applies; combinable ones apply one after another, each on what the earlier left.
//! - **Money**: integer minor units; a discount never takes a line or the shipping below zero;
//!   an order-wide amount is split over the lines in proportion to what is left of each, by the
//!   largest-remainder rule (ties to the line of the smaller variant id), so the per-line
//!   discounts sum to it exactly; percentages round half away from zero per line.

mod engine;
mod model;
mod ports;
mod service;

pub use engine::{
    Applied, CartLine, Customer, Evaluation, LineDiscount, Refusal, Shopper, Usage, allocate, evaluate, limit_reached,
    limited, needs_customer,
};
pub use model::{
    Action, CodeError, Conditions, InvalidInput, MAX_AMOUNT_MINOR, MAX_TARGETS, Promotion, PromotionInput,
    PromotionStatus, normalise_code,
};
pub use ports::{
    CustomerGroup, GroupMember, GroupRepo, PromotionError, PromotionFilter, PromotionKind, PromotionRepo, Redemption,
    UsageReport,
};
pub use service::PromotionService;
