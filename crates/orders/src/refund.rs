//! Refunds as pure decisions: what a refund request is worth and whether it may be paid, from
//! the order's snapshot (each line at its discounted price, the shipping after its discount, the
//! tax in proportion) and what is refunded already. The adapter locks the order row, calls
//! [`plan`], and writes the plan in the same transaction; the provider is called after the
//! commit with the refund's own idempotency key, so a retry never pays twice.
//!
//! Rounding rule. With `net_i` a line's total after its discount, `Q_i` its quantity, `S` the
//! shipping after its discount and `T` the tax, the value of `r_i` refunded units of each line
//! (and the shipping, or not) is
//!
//! ```text
//! base  = Σ floor(net_i × r_i / Q_i)  (+ S when the shipping is refunded)
//! value = base + floor(T × base / (Σ net_i + S))
//! ```
//!
//! and a request is worth `value(after) − value(before)`: every unit refunded, in any order of
//! pieces, sums to exactly the order's total, and no piece is worth less than zero. A sum of
//! money not tied to lines (goodwill) only counts against what is left to refund.

use chrono::{DateTime, Utc};
use primitives::Money;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Order, OrderStatus};

/// `POST /admin/orders/{id}/refunds` body: either `amount_minor`, or `lines` and/or `shipping`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// A sum in the order's currency not tied to lines (a goodwill gesture, a price adjustment).
    #[garde(range(min = 1, max = 1_000_000_000_000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000_000_i64))]
    #[serde(default)]
    pub amount_minor: Option<i64>,
    /// Units of the order's lines: each refunded at its discounted price plus its share of tax.
    #[garde(length(max = 100), dive)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    #[serde(default)]
    pub lines: Vec<RefundLineRequest>,
    /// Refund the shipping too (after its discount, with its share of tax).
    #[garde(skip)]
    #[serde(default)]
    pub shipping: bool,
    /// Shown on the order.
    #[garde(length(chars, max = 500))]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefundLineRequest {
    #[garde(range(min = 1, max = 1000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub line_no: i32,
    #[garde(range(min = 1, max = 1000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub quantity: i32,
    /// Put the units back in stock (the ledger records reason `refund`); a unit is restocked
    /// once at most, whatever refunds or cancellations follow.
    #[garde(skip)]
    #[serde(default)]
    pub restock: bool,
}

/// Units of one order line that a refund or a return covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineUnits {
    pub line_no: i32,
    pub quantity: i32,
    /// Of `quantity`, the units put back in stock (by the refund; by a return, when received).
    pub restocked: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Recorded; the provider has not confirmed it yet (retried with the same key until it does).
    Pending,
    Succeeded,
    /// The provider refused it; its amount and units count as not refunded again.
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [RefundStatus::Pending, RefundStatus::Succeeded, RefundStatus::Failed].into_iter().find(|r| r.as_str() == s)
    }
}

/// One refund of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refund {
    pub id: Uuid,
    pub order_id: Uuid,
    pub amount: Money,
    pub lines: Vec<LineUnits>,
    pub shipping: bool,
    pub reason: Option<String>,
    pub status: RefundStatus,
    /// The provider's refund id, once it succeeded.
    pub provider_refund_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

/// How much of the order's money has gone back, from the sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    None,
    PartiallyRefunded,
    Refunded,
}

impl RefundState {
    /// From what is refunded (pending and succeeded refunds) against the total.
    pub fn of(refunded_minor: i64, total_minor: i64) -> Self {
        match refunded_minor {
            0 => RefundState::None,
            r if r >= total_minor => RefundState::Refunded,
            _ => RefundState::PartiallyRefunded,
        }
    }
}

/// Why a refund cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RefundRefusal {
    #[error("an order that is {0:?} has no payment to refund")]
    NotRefundable(OrderStatus),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("the order has no line {line_no}")]
    UnknownLine { line_no: i32 },
    #[error("line {line_no} has {refundable_quantity} units left to refund")]
    LineExceeded { line_no: i32, refundable_quantity: i32 },
    #[error("the shipping is refunded already")]
    ShippingRefunded,
    #[error("at most {refundable:?} is left to refund")]
    AmountExceeded { refundable: Money },
}

/// What one refund writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPlan {
    pub amount: Money,
    pub lines: Vec<LineUnits>,
    pub shipping: bool,
    /// After it, everything is refunded: the order moves to `refunded`.
    pub completes: bool,
}

fn refundable_status(s: OrderStatus) -> bool {
    matches!(
        s,
        OrderStatus::Paid
            | OrderStatus::PartiallyShipped
            | OrderStatus::Shipped
            | OrderStatus::Delivered
            | OrderStatus::Refunded
    )
}

/// Units of `line` that a refund may still put back in stock: before the order has shipped
/// whole only unshipped ones (a shipped unit comes back by a return), afterwards any not back
/// yet.
fn restockable(order: &Order, line: &crate::OrderLine) -> i32 {
    if matches!(order.status, OrderStatus::Paid | OrderStatus::PartiallyShipped) {
        crate::fulfilment::shippable(line)
    } else {
        line.quantity - line.restocked_quantity
    }
}

/// The value of `units` refunded of each line (in `order.lines` order) and the shipping or not,
/// by the module's rounding rule. `value(all units, shipping) == total`.
pub fn value(order: &Order, units: &[i32], shipping: bool) -> i64 {
    let nets: Vec<i64> = order.lines.iter().map(|l| l.line_total.amount_minor - l.discount.amount_minor).collect();
    let tax = order.tax.amount_minor;
    let lines_net: i64 = nets.iter().sum();
    // Derived so the parts always add up to the total.
    let shipping_net = (order.total.amount_minor - tax - lines_net).max(0);
    let all = i128::from(lines_net) + i128::from(shipping_net);
    let mut base: i128 = order
        .lines
        .iter()
        .zip(&nets)
        .zip(units)
        .map(|((l, net), r)| {
            let q = i128::from(l.quantity.max(1));
            i128::from(*net) * i128::from((*r).clamp(0, l.quantity)) / q
        })
        .sum();
    if shipping {
        base += i128::from(shipping_net);
    }
    let tax_part = if all == 0 { 0 } else { i128::from(tax) * base / all };
    i64::try_from(base + tax_part).unwrap_or(i64::MAX)
}

/// Plans refunding `req` of `order` (read under its row lock, with what is refunded already).
pub fn plan(order: &Order, req: &RefundRequest) -> Result<RefundPlan, RefundRefusal> {
    if !refundable_status(order.status) || order.payment_id.is_none() {
        return Err(RefundRefusal::NotRefundable(order.status));
    }
    let invalid = |field: &str, message: &str| RefundRefusal::Invalid { field: field.into(), message: message.into() };
    let by_lines = !req.lines.is_empty() || req.shipping;
    let cur = order.total.currency;
    // Never more than was captured (all of it when charged at checkout).
    let left = order.captured.amount_minor - order.refunded.amount_minor;
    let completes = |amount: i64| order.refunded.amount_minor + amount >= order.total.amount_minor;
    let exceeded = || RefundRefusal::AmountExceeded { refundable: Money::new(left.max(0), cur) };
    match (req.amount_minor, by_lines) {
        (Some(_), true) => return Err(invalid("amount_minor", "give an amount or lines and shipping, not both")),
        (None, false) => return Err(invalid("lines", "give an amount, or lines and/or shipping")),
        (Some(amount), false) => {
            if amount > left {
                return Err(exceeded());
            }
            return Ok(RefundPlan {
                amount: Money::new(amount, cur),
                lines: vec![],
                shipping: false,
                completes: completes(amount),
            });
        }
        (None, true) => {}
    }
    let before: Vec<i32> = order.lines.iter().map(|l| l.refunded_quantity).collect();
    let mut after = before.clone();
    let mut lines: Vec<LineUnits> = Vec::new();
    for r in &req.lines {
        let Some(i) = order.lines.iter().position(|l| l.line_no == r.line_no) else {
            return Err(RefundRefusal::UnknownLine { line_no: r.line_no });
        };
        let line = &order.lines[i];
        // Units in an open return are refunded by that return; units captured at shipment
        // are refundable once shipped.
        let refundable_quantity = crate::fulfilment::charged(order, line) - after[i] - line.returned_quantity;
        if r.quantity > refundable_quantity {
            return Err(RefundRefusal::LineExceeded { line_no: r.line_no, refundable_quantity });
        }
        after[i] += r.quantity;
        let restocked = if r.restock {
            let already: i32 = lines.iter().filter(|x| x.line_no == r.line_no).map(|x| x.restocked).sum();
            r.quantity.min(restockable(order, line) - already).max(0)
        } else {
            0
        };
        lines.push(LineUnits { line_no: r.line_no, quantity: r.quantity, restocked });
    }
    if req.shipping && order.shipping_refunded {
        return Err(RefundRefusal::ShippingRefunded);
    }
    let worth =
        value(order, &after, req.shipping || order.shipping_refunded) - value(order, &before, order.shipping_refunded);
    // Goodwill refunded before may have used up part of what lines are worth.
    let amount = worth.min(left);
    if amount <= 0 {
        return Err(exceeded());
    }
    Ok(RefundPlan { amount: Money::new(amount, cur), lines, shipping: req.shipping, completes: completes(amount) })
}

/// Plans refunding everything left of what was captured: every charged unit not refunded, the
/// shipping if not refunded, and the rest of the money; the unshipped units put back in stock
/// when `restock` (never more than this refund covers). `None` when nothing is left.
pub fn plan_rest(order: &Order, restock: bool) -> Option<RefundPlan> {
    let left = order.captured.amount_minor - order.refunded.amount_minor;
    if left <= 0 {
        return None;
    }
    let lines = order
        .lines
        .iter()
        .map(|l| (l, crate::fulfilment::charged(order, l) - l.refunded_quantity - l.returned_quantity))
        .filter(|(_, units)| *units > 0)
        .map(|(l, units)| LineUnits {
            line_no: l.line_no,
            quantity: units,
            restocked: if restock { units.min(crate::fulfilment::shippable(l)) } else { 0 },
        })
        .collect();
    Some(RefundPlan {
        amount: Money::new(left, order.total.currency),
        lines,
        shipping: !order.shipping_refunded,
        completes: true,
    })
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::OrderLine;
    use primitives::Currency;

    pub(crate) fn eur() -> Currency {
        "EUR".parse().unwrap()
    }

    /// Two lines (3 × 10.00 with 3.00 off, 1 × 5.00), shipping 4.90 with 0.90 off, 19 % tax on
    /// 27.00 + 5.00 + 4.00 = 36.00 -> 6.84; total 42.84.
    pub(crate) fn order() -> Order {
        let m = |a| Money::new(a, eur());
        let line = |n: i32, price: i64, q: i32, discount: i64| OrderLine {
            line_no: n,
            variant_id: Some(Uuid::from_u128(n as u128)),
            product_id: None,
            sku: format!("S{n}"),
            name: format!("L{n}"),
            options: Default::default(),
            unit_price: m(price),
            quantity: q,
            line_total: m(price * i64::from(q)),
            discount: m(discount),
            refunded_quantity: 0,
            restocked_quantity: 0,
            returned_quantity: 0,
            shipped_quantity: 0,
        };
        let now = Utc::now();
        Order {
            id: Uuid::from_u128(1),
            user_id: Uuid::from_u128(2),
            status: OrderStatus::Paid,
            subtotal: m(3500),
            shipping: m(490),
            discount: m(390),
            tax: m(684),
            total: m(4284),
            refunded: m(0),
            refund_state: RefundState::None,
            capture_mode: crate::CaptureMode::Automatic,
            captured: m(4284),
            capture_state: crate::CaptureState::Captured,
            capture_failed: false,
            shipments: vec![],
            shipping_refunded: false,
            refunds: vec![],
            returns: vec![],
            promotions: vec![],
            shipping_address: serde_json::from_value(serde_json::json!({
                "full_name": "A", "line1": "x", "city": "y", "postal_code": "1", "country": "DE"
            }))
            .unwrap(),
            shipping_method: "Standard".into(),
            lines: vec![line(1, 1000, 3, 300), line(2, 500, 1, 0)],
            carrier: None,
            tracking_number: None,
            payment_action: None,
            expires_at: now,
            paid_at: Some(now),
            shipped_at: None,
            delivered_at: None,
            cancelled_at: None,
            refunded_at: None,
            created_at: now,
            updated_at: now,
            payment_id: Some("pi_1".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{eur, order};
    use super::*;

    fn lines(req: &[(i32, i32, bool)]) -> RefundRequest {
        RefundRequest {
            amount_minor: None,
            lines: req
                .iter()
                .map(|&(line_no, quantity, restock)| RefundLineRequest { line_no, quantity, restock })
                .collect(),
            shipping: false,
            reason: None,
        }
    }

    /// Applies a plan as the adapter does.
    fn record(o: &mut Order, p: &RefundPlan) {
        o.refunded.amount_minor += p.amount.amount_minor;
        o.shipping_refunded |= p.shipping;
        for l in &p.lines {
            let line = o.lines.iter_mut().find(|x| x.line_no == l.line_no).unwrap();
            line.refunded_quantity += l.quantity;
            line.restocked_quantity += l.restocked;
        }
    }

    #[test]
    fn everything_refunded_sums_to_the_total() {
        assert_eq!(value(&order(), &[3, 1], true), 4284);
        assert_eq!(value(&order(), &[0, 0], false), 0);
        // One unit of line 1: 9.00 net, its tax floor(684 * 900 / 3600) = 171.
        let p = plan(&order(), &lines(&[(1, 1, true)])).unwrap();
        assert_eq!((p.amount.amount_minor, p.completes), (1071, false));
        assert_eq!(p.lines, vec![LineUnits { line_no: 1, quantity: 1, restocked: 1 }]);
    }

    #[test]
    fn pieces_in_any_order_sum_exactly() {
        use proptest::prelude::*;
        proptest!(|(steps in proptest::collection::vec((0usize..3, 1i32..3), 1..12))| {
            let mut o = order();
            let mut paid = 0;
            for (what, q) in steps {
                let req = match what {
                    0 => lines(&[(1, q, false)]),
                    1 => lines(&[(2, 1, false)]),
                    _ => RefundRequest { shipping: true, ..lines(&[]) },
                };
                if let Ok(p) = plan(&o, &req) {
                    prop_assert!(p.amount.amount_minor > 0);
                    paid += p.amount.amount_minor;
                    record(&mut o, &p);
                }
            }
            prop_assert!(paid <= 4284);
            // The rest refunds exactly what is left.
            if let Some(rest) = plan_rest(&o, false) {
                paid += rest.amount.amount_minor;
            }
            prop_assert_eq!(paid, 4284);
        });
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let o = order();
        assert_eq!(plan(&o, &lines(&[(9, 1, false)])), Err(RefundRefusal::UnknownLine { line_no: 9 }));
        assert_eq!(
            plan(&o, &lines(&[(1, 2, false), (1, 2, false)])),
            Err(RefundRefusal::LineExceeded { line_no: 1, refundable_quantity: 1 })
        );
        let both = RefundRequest { amount_minor: Some(5), ..lines(&[(1, 1, false)]) };
        assert!(matches!(plan(&o, &both), Err(RefundRefusal::Invalid { ref field, .. }) if field == "amount_minor"));
        assert!(matches!(plan(&o, &lines(&[])), Err(RefundRefusal::Invalid { ref field, .. }) if field == "lines"));
        let too_much = RefundRequest { amount_minor: Some(4285), ..lines(&[]) };
        assert_eq!(plan(&o, &too_much), Err(RefundRefusal::AmountExceeded { refundable: Money::new(4284, eur()) }));
        for status in [OrderStatus::PendingPayment, OrderStatus::Cancelled, OrderStatus::PaymentFailed] {
            let o = Order { status, ..order() };
            assert_eq!(plan(&o, &lines(&[(1, 1, false)])), Err(RefundRefusal::NotRefundable(status)));
        }
        let mut shipped = order();
        let p = plan(&shipped, &RefundRequest { shipping: true, ..lines(&[]) }).unwrap();
        record(&mut shipped, &p);
        assert_eq!(
            plan(&shipped, &RefundRequest { shipping: true, ..lines(&[]) }),
            Err(RefundRefusal::ShippingRefunded)
        );
    }

    #[test]
    fn goodwill_counts_against_what_is_left() {
        let mut o = order();
        let p = plan(&o, &RefundRequest { amount_minor: Some(4000), ..lines(&[]) }).unwrap();
        record(&mut o, &p);
        // Line 2 is worth 5.00 + tax, but only 2.84 is left.
        let p = plan(&o, &lines(&[(2, 1, false)])).unwrap();
        assert_eq!((p.amount.amount_minor, p.completes), (284, true));
        record(&mut o, &p);
        assert_eq!(
            plan(&o, &lines(&[(1, 1, false)])),
            Err(RefundRefusal::AmountExceeded { refundable: Money::new(0, eur()) })
        );
        assert_eq!(plan_rest(&o, true), None);
        assert_eq!(RefundState::of(o.refunded.amount_minor, 4284), RefundState::Refunded);
    }

    #[test]
    fn a_unit_is_restocked_once() {
        let mut o = order();
        let p = plan(&o, &lines(&[(1, 2, true)])).unwrap();
        record(&mut o, &p);
        let rest = plan_rest(&o, true).unwrap();
        assert_eq!(
            rest.lines,
            vec![
                LineUnits { line_no: 1, quantity: 1, restocked: 1 },
                LineUnits { line_no: 2, quantity: 1, restocked: 1 }
            ]
        );
        assert_eq!(rest.amount.amount_minor, 4284 - p.amount.amount_minor);
        assert!(rest.shipping && rest.completes);
        // A unit refunded without restock is not restocked by the rest either.
        let mut o = order();
        let p = plan(&o, &lines(&[(1, 1, false)])).unwrap();
        record(&mut o, &p);
        let rest = plan_rest(&o, true).unwrap();
        assert_eq!(rest.lines[0], LineUnits { line_no: 1, quantity: 2, restocked: 2 });
        assert_eq!(RefundState::of(0, 10), RefundState::None);
        assert_eq!(RefundState::of(3, 10), RefundState::PartiallyRefunded);
    }
}
