//! The decision: which promotions apply to a cart, in which order, and what each takes off each
//! line and the shipping. One pure function, [`evaluate`], for the cart view and for checkout
//! (which calls it again inside its transaction, on the lines and usage counts it has locked).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use primitives::Currency;
use serde::Serialize;
use uuid::Uuid;

use crate::model::{Action, Promotion, PromotionStatus};

/// A cart line as priced now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub product_id: Uuid,
    pub variant_id: Uuid,
    pub category_id: Option<Uuid>,
    pub unit_price_minor: i64,
    pub quantity: i32,
}

impl CartLine {
    fn total(&self) -> i64 {
        clamp(i128::from(self.unit_price_minor) * i128::from(self.quantity.max(0)))
    }
}

/// A signed-in shopper, as the conditions need them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customer {
    pub id: Uuid,
    pub groups: Vec<Uuid>,
    /// Orders placed so far that still count (not cancelled before payment, not failed).
    pub orders_placed: i64,
}

/// Who is shopping and with which codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shopper {
    /// `None` for a guest: promotions for a group or for first orders do not apply, and
    /// per-customer limits are checked at checkout, where the shopper is signed in.
    pub customer: Option<Customer>,
    /// The codes entered, normalised ([`crate::normalise_code`]).
    pub codes: Vec<String>,
}

/// A promotion's redemptions so far (orders placed and not released).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub total: i64,
    pub by_customer: i64,
}

/// Why an entered code does not apply. Automatic promotions that do not apply are left out
/// silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No such code, or its promotion is not active (draft, paused, archived).
    UnknownCode,
    NotYetValid,
    Expired,
    /// The cart or the shopper does not meet a condition, or there is nothing to take off.
    NotApplicable,
    LimitReached,
    /// Another promotion applies that does not combine with it, or it does not combine with
    /// one applied before it.
    NotCombinable,
}

impl Refusal {
    /// The stable problem code of the refusal (`promotion-expired`, ...).
    pub fn problem_code(self) -> &'static str {
        match self {
            Refusal::UnknownCode => "promotion-unknown",
            Refusal::NotYetValid => "promotion-not-yet-valid",
            Refusal::Expired => "promotion-expired",
            Refusal::NotApplicable => "promotion-not-applicable",
            Refusal::LimitReached => "promotion-limit-reached",
            Refusal::NotCombinable => "promotion-not-combinable",
        }
    }
}

/// One promotion's part of the discount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub promotion_id: Uuid,
    pub name: String,
    pub code: Option<String>,
    /// Per cart line, in the cart's order.
    pub lines_minor: Vec<i64>,
    pub shipping_minor: i64,
    /// Lines and shipping together.
    pub amount_minor: i64,
}

/// A line's discount from every promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineDiscount {
    pub discount_minor: i64,
    /// The line's total after it (never below zero).
    pub total_minor: i64,
}

/// The outcome for a cart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// In the order they were applied.
    pub applied: Vec<Applied>,
    /// Per cart line, in the cart's order: the sums of the applied promotions' lines.
    pub lines: Vec<LineDiscount>,
    pub lines_discount_minor: i64,
    pub shipping_discount_minor: i64,
    /// Lines and shipping together: the sum of every applied amount.
    pub discount_minor: i64,
    /// Entered codes that do not apply, with why, in the order they were entered.
    pub refused: Vec<(String, Refusal)>,
}

fn clamp(v: i128) -> i64 {
    v.clamp(0, i128::from(i64::MAX)) as i64
}

/// `amount * bp / 10,000`, rounded half away from zero (amounts here are never negative).
fn percent(amount: i64, bp: i64) -> i64 {
    let bp = bp.clamp(0, 10_000);
    let scaled = i128::from(amount.max(0)) * i128::from(bp);
    clamp((scaled + 5_000) / 10_000)
}

/// Splits `total` over parts in proportion to `weights` (never negative): each part gets the
/// floor of its exact share, and what is left goes one unit at a time to the parts with the
/// largest remainders, ties to the earlier part. The parts sum to `min(total, sum of weights)`
/// exactly, and none exceeds its weight.
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    let total = i128::from(total.max(0)).min(sum);
    if total == 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<(i128, i128)> = weights
        .iter()
        .map(|w| {
            let scaled = total * i128::from((*w).max(0));
            (scaled / sum, scaled % sum)
        })
        .collect();
    let mut parts: Vec<i128> = exact.iter().map(|(q, _)| *q).collect();
    let mut left = total - parts.iter().sum::<i128>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
    for i in order {
        if left == 0 {
            break;
        }
        if exact[i].1 > 0 {
            parts[i] += 1;
            left -= 1;
        }
    }
    parts.into_iter().map(clamp).collect()
}

/// What `action` takes off `remaining` (per line) and `shipping`, before any cap.
fn take(action: Action, lines: &[CartLine], matching: &[bool], remaining: &[i64], shipping: i64) -> (Vec<i64>, i64) {
    let none = vec![0; lines.len()];
    match action {
        Action::PercentOffOrder { percent_bp } => {
            let base: i64 = remaining.iter().sum();
            (allocate(percent(base, percent_bp), remaining), 0)
        }
        Action::FixedOffOrder { amount_minor } => (allocate(amount_minor, remaining), 0),
        Action::PercentOffLines { percent_bp } => {
            let off = remaining.iter().zip(matching).map(|(r, m)| if *m { percent(*r, percent_bp) } else { 0 });
            (off.collect(), 0)
        }
        Action::FixedOffUnits { amount_minor } => {
            let off = lines.iter().zip(remaining).zip(matching).map(|((l, r), m)| {
                if *m { clamp(i128::from(amount_minor.max(0)) * i128::from(l.quantity.max(0))).min(*r) } else { 0 }
            });
            (off.collect(), 0)
        }
        Action::FreeShipping {} => (none, shipping),
        Action::BuyXGetY { buy, get, percent_bp } => {
            let (buy, get) = (i64::from(buy.max(0)), i64::from(get.max(0)));
            let block = buy + get;
            if get == 0 || block == 0 {
                return (none, 0);
            }
            // The matching units, dearest first (ties: earlier line first).
            let mut units: Vec<(usize, i64)> = Vec::new();
            for (i, l) in lines.iter().enumerate().filter(|(i, _)| matching[*i]) {
                let count = usize::try_from(l.quantity.max(0)).unwrap_or(0);
                units.extend(std::iter::repeat_n((i, l.unit_price_minor), count));
            }
            units.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut off = none;
            for (n, (i, price)) in units.iter().enumerate() {
                let position = (n as i64) % block;
                let full_block = (n as i64) - position + block <= units.len() as i64;
                if position >= buy && full_block {
                    off[*i] = off[*i].saturating_add(percent(*price, percent_bp));
                }
            }
            for (o, r) in off.iter_mut().zip(remaining) {
                *o = (*o).min(*r);
            }
            (off, 0)
        }
    }
}

/// Why `p` cannot apply to this cart and shopper (before looking at the amounts), if it cannot.
fn refusal(
    p: &Promotion,
    lines: &[CartLine],
    currency: Currency,
    shopper: &Shopper,
    usage: Usage,
    now: DateTime<Utc>,
) -> Option<Refusal> {
    if p.status != PromotionStatus::Active {
        return Some(Refusal::UnknownCode);
    }
    if p.starts_at.is_some_and(|s| now < s) {
        return Some(Refusal::NotYetValid);
    }
    if p.ends_at.is_some_and(|e| now >= e) {
        return Some(Refusal::Expired);
    }
    let c = &p.conditions;
    let subtotal: i64 = lines.iter().map(CartLine::total).fold(0, i64::saturating_add);
    let customer = shopper.customer.as_ref();
    let applicable = c.currency.is_none_or(|cur| cur == currency)
        && c.min_subtotal_minor.is_none_or(|min| subtotal >= min)
        && lines.iter().any(|l| c.matches(l.product_id, l.variant_id, l.category_id))
        && c.customer_group.is_none_or(|g| customer.is_some_and(|cu| cu.groups.contains(&g)))
        && (!c.first_order_only || customer.is_some_and(|cu| cu.orders_placed == 0));
    if !applicable {
        return Some(Refusal::NotApplicable);
    }
    if limit_reached(p, usage, customer.is_some()) {
        return Some(Refusal::LimitReached);
    }
    None
}

/// Whether one more redemption of `p` would pass its total limit, or (for a known customer,
/// `by_customer` being theirs) its per-customer limit. The engine and the adapter that counts
/// redemptions under lock both decide with this.
pub fn limit_reached(p: &Promotion, usage: Usage, customer_known: bool) -> bool {
    let over = |limit: Option<i64>, used: i64| limit.is_some_and(|l| used >= l);
    over(p.usage_limit, usage.total) || (customer_known && over(p.per_customer_limit, usage.by_customer))
}

/// Decides the discounts of a cart: `promotions` are the candidates (the active automatic ones
/// and those of the entered codes; others are ignored), `usage` their redemptions so far (absent:
/// none), `shipping_minor` the chosen shipping's price (0 before one is chosen).
///
/// The order of `lines` does not matter: they are decided in variant-id order (so the cart view,
/// which lists lines as added, and checkout, which locks them by id, split alike), and the
/// per-line results come back in the order given.
pub fn evaluate(
    promotions: &[Promotion],
    lines: &[CartLine],
    currency: Currency,
    shipping_minor: i64,
    shopper: &Shopper,
    usage: &HashMap<Uuid, Usage>,
    now: DateTime<Utc>,
) -> Evaluation {
    // The k-th line decided is the given line `order[k]`.
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by_key(|&i| (lines[i].variant_id, lines[i].product_id, i));
    let sorted: Vec<CartLine> = order.iter().map(|&i| lines[i].clone()).collect();
    let lines = &sorted[..];

    let mut refused: HashMap<String, Refusal> = HashMap::new();
    let mut candidates: Vec<&Promotion> = promotions
        .iter()
        .filter(|p| match &p.code {
            None => p.status == PromotionStatus::Active,
            Some(code) => shopper.codes.iter().any(|c| c == code),
        })
        .collect();
    candidates.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.id.cmp(&b.id)));
    for code in &shopper.codes {
        if !candidates.iter().any(|p| p.code.as_deref() == Some(code.as_str())) {
            refused.insert(code.clone(), Refusal::UnknownCode);
        }
    }

    let mut remaining: Vec<i64> = lines.iter().map(CartLine::total).collect();
    let mut shipping_left = shipping_minor.max(0);
    let mut applied: Vec<Applied> = Vec::new();
    let mut exclusive = false;
    for p in candidates {
        let refuse = |refused: &mut HashMap<String, Refusal>, why: Refusal| {
            if let Some(code) = &p.code {
                refused.insert(code.clone(), why);
            }
        };
        if let Some(why) = refusal(p, lines, currency, shopper, usage.get(&p.id).copied().unwrap_or_default(), now) {
            refuse(&mut refused, why);
            continue;
        }
        if exclusive || (!p.combinable && !applied.is_empty()) {
            refuse(&mut refused, Refusal::NotCombinable);
            continue;
        }
        let matching: Vec<bool> =
            lines.iter().map(|l| p.conditions.matches(l.product_id, l.variant_id, l.category_id)).collect();
        let (mut off, mut ship) = take(p.action, lines, &matching, &remaining, shipping_left);
        let amount = off.iter().fold(ship, |a, b| a.saturating_add(*b));
        if let Some(cap) = p.max_discount_minor.filter(|cap| *cap < amount) {
            let mut weights = off.clone();
            weights.push(ship);
            let mut capped = allocate(cap, &weights);
            ship = capped.pop().unwrap_or(0);
            off = capped;
        }
        let amount = off.iter().fold(ship, |a, b| a.saturating_add(*b));
        // Free shipping before a shipping method is chosen still counts as applied (0 now).
        if amount == 0 && !matches!(p.action, Action::FreeShipping {}) {
            refuse(&mut refused, Refusal::NotApplicable);
            continue;
        }
        for (r, o) in remaining.iter_mut().zip(&off) {
            *r -= o;
        }
        shipping_left -= ship;
        exclusive = !p.combinable;
        applied.push(Applied {
            promotion_id: p.id,
            name: p.name.clone(),
            code: p.code.clone(),
            lines_minor: off,
            shipping_minor: ship,
            amount_minor: amount,
        });
    }

    let lines_out: Vec<LineDiscount> = lines
        .iter()
        .zip(&remaining)
        .map(|(l, r)| LineDiscount { discount_minor: l.total() - r, total_minor: *r })
        .collect();
    let lines_discount_minor = lines_out.iter().map(|l| l.discount_minor).sum();
    let shipping_discount_minor = shipping_minor.max(0) - shipping_left;
    for a in &mut applied {
        a.lines_minor = unsort(&order, &a.lines_minor);
    }
    Evaluation {
        applied,
        lines: unsort(&order, &lines_out),
        lines_discount_minor,
        shipping_discount_minor,
        discount_minor: lines_discount_minor + shipping_discount_minor,
        refused: shopper.codes.iter().filter_map(|c| refused.get(c).map(|why| (c.clone(), *why))).collect(),
    }
}

/// Puts per-line values decided in `order` (position k held line `order[k]`) back in the order
/// the lines were given.
fn unsort<T: Copy>(order: &[usize], values: &[T]) -> Vec<T> {
    let mut out = values.to_vec();
    for (k, &i) in order.iter().enumerate() {
        out[i] = values[k];
    }
    out
}

/// Whether evaluating `promotions` needs the customer's groups and past orders (a group or a
/// first-order condition); when none does, the adapters skip reading them.
pub fn needs_customer(promotions: &[Promotion]) -> bool {
    promotions.iter().any(|p| p.conditions.customer_group.is_some() || p.conditions.first_order_only)
}

/// The promotions among `promotions` with a usage limit (total or per customer): the only ones
/// whose usage has to be read, and, at checkout, locked.
pub fn limited(promotions: &[Promotion]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> =
        promotions.iter().filter(|p| p.usage_limit.is_some() || p.per_customer_limit.is_some()).map(|p| p.id).collect();
    ids.sort();
    ids.dedup();
    ids
}
