//! Returns as pure code: the state machine of one return and the decision whether a customer's
//! request can be made. The adapter locks the order row, calls these, and writes the outcome.
//!
//! ```text
//! requested ──approve──► approved ──receive──► received ──refund──► refunded
//!   │  └──reject──► rejected   │
//!   └──withdraw──► withdrawn ◄─┘ (the customer, before the parcel arrives)
//! ```
//!
//! A delivered order's units can be asked back within the return window; a unit is in one
//! open return at most, and never once refunded. Receiving restocks (ledger reason `return`);
//! refunding goes through [`crate::refund`], at the discounted price of the order's snapshot.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{LineUnits, Order, OrderStatus, RefundLineRequest, RefundRequest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    Requested,
    Approved,
    Rejected,
    Received,
    Refunded,
    Withdrawn,
}

impl ReturnStatus {
    pub const ALL: [ReturnStatus; 6] = [
        ReturnStatus::Requested,
        ReturnStatus::Approved,
        ReturnStatus::Rejected,
        ReturnStatus::Received,
        ReturnStatus::Refunded,
        ReturnStatus::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnStatus::Requested => "requested",
            ReturnStatus::Approved => "approved",
            ReturnStatus::Rejected => "rejected",
            ReturnStatus::Received => "received",
            ReturnStatus::Refunded => "refunded",
            ReturnStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ReturnStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Its units no longer count as being returned.
    pub fn releases_units(self) -> bool {
        matches!(self, ReturnStatus::Rejected | ReturnStatus::Withdrawn)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnEvent {
    Approve,
    Reject,
    Receive,
    Refund,
    Withdraw,
}

impl ReturnEvent {
    pub const ALL: [ReturnEvent; 5] =
        [ReturnEvent::Approve, ReturnEvent::Reject, ReturnEvent::Receive, ReturnEvent::Refund, ReturnEvent::Withdraw];

    pub fn verb(self) -> &'static str {
        match self {
            ReturnEvent::Approve => "approved",
            ReturnEvent::Reject => "rejected",
            ReturnEvent::Receive => "received",
            ReturnEvent::Refund => "refunded",
            ReturnEvent::Withdraw => "withdrawn",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a return that is {from:?} cannot be {}", event.verb())]
pub struct IllegalReturnTransition {
    pub from: ReturnStatus,
    pub event: ReturnEvent,
}

/// The status after `event`; `IllegalReturnTransition` for every other pair.
pub fn return_transition(from: ReturnStatus, event: ReturnEvent) -> Result<ReturnStatus, IllegalReturnTransition> {
    use ReturnEvent as E;
    use ReturnStatus as S;
    Ok(match (from, event) {
        (S::Requested, E::Approve) => S::Approved,
        (S::Requested, E::Reject) => S::Rejected,
        (S::Requested | S::Approved, E::Withdraw) => S::Withdrawn,
        (S::Approved, E::Receive) => S::Received,
        (S::Received, E::Refund) => S::Refunded,
        _ => return Err(IllegalReturnTransition { from, event }),
    })
}

/// `POST /orders/{id}/returns` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    #[garde(length(min = 1, max = 100), dive)]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub lines: Vec<ReturnLineRequest>,
    /// Why (shown to the merchant).
    #[garde(length(chars, min = 1, max = 500))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReturnLineRequest {
    #[garde(range(min = 1, max = 1000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub line_no: i32,
    #[garde(range(min = 1, max = 1000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub quantity: i32,
}

/// `POST /admin/returns/{id}/receive` body: which lines go back to stock (all by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReceiveReturn {
    /// Lines received damaged: not put back in stock.
    #[garde(length(max = 100), dive)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    #[serde(default)]
    pub no_restock: Vec<LineRef>,
}

/// A line of the order, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LineRef {
    #[garde(range(min = 1, max = 1000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub line_no: i32,
}

/// `POST /admin/returns/{id}/reject` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RejectReturn {
    #[garde(length(chars, min = 1, max = 500))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub note: String,
}

/// One return of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Return {
    pub id: Uuid,
    pub order_id: Uuid,
    pub status: ReturnStatus,
    pub lines: Vec<LineUnits>,
    pub reason: String,
    /// The merchant's note (with a rejection).
    pub note: Option<String>,
    /// The refund that paid it back.
    pub refund_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why a return cannot be asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnRefusal {
    #[error("an order that is {0:?} cannot be returned")]
    NotDelivered(OrderStatus),
    #[error("the return window closed at {0}")]
    WindowClosed(DateTime<Utc>),
    #[error("the order has no line {line_no}")]
    UnknownLine { line_no: i32 },
    #[error("line {line_no} has {returnable_quantity} units that can be returned")]
    LineExceeded { line_no: i32, returnable_quantity: i32 },
}

/// The lines of a return of `req` from `order` (read under its row lock, with the units in open
/// returns counted on its lines) at `now`, within `window_days` of delivery.
pub fn plan_return(
    order: &Order,
    req: &ReturnRequest,
    now: DateTime<Utc>,
    window_days: i64,
) -> Result<Vec<LineUnits>, ReturnRefusal> {
    let delivered = match (order.status, order.delivered_at) {
        (OrderStatus::Delivered, Some(at)) => at,
        _ => return Err(ReturnRefusal::NotDelivered(order.status)),
    };
    let closes = delivered + Duration::days(window_days.clamp(0, 3650));
    if now > closes {
        return Err(ReturnRefusal::WindowClosed(closes));
    }
    let mut out: Vec<LineUnits> = Vec::new();
    for r in &req.lines {
        let line = order
            .lines
            .iter()
            .find(|l| l.line_no == r.line_no)
            .ok_or(ReturnRefusal::UnknownLine { line_no: r.line_no })?;
        let asked: i32 = out.iter().filter(|o| o.line_no == r.line_no).map(|o| o.quantity).sum();
        // Shipped units not refunded (a unit cancelled before it shipped was never received).
        let returnable_quantity =
            line.shipped_quantity.min(line.quantity - line.refunded_quantity) - line.returned_quantity - asked;
        if r.quantity > returnable_quantity {
            return Err(ReturnRefusal::LineExceeded {
                line_no: r.line_no,
                returnable_quantity: returnable_quantity.max(0),
            });
        }
        out.push(LineUnits { line_no: r.line_no, quantity: r.quantity, restocked: 0 });
    }
    Ok(out)
}

/// The lines of a return as received: each line's units back in stock, except the lines in
/// `damaged`, and never more than are not back yet.
pub fn receive(order: &Order, lines: &[LineUnits], damaged: &[i32]) -> Vec<LineUnits> {
    lines
        .iter()
        .map(|l| {
            let room =
                order.lines.iter().find(|x| x.line_no == l.line_no).map_or(0, |x| x.quantity - x.restocked_quantity);
            let restocked = if damaged.contains(&l.line_no) { 0 } else { l.quantity.min(room).max(0) };
            LineUnits { restocked, ..*l }
        })
        .collect()
}

/// The refund that pays a return back: its units at their price in the order, without restock
/// (receiving did that).
pub fn refund_request(ret: &Return) -> RefundRequest {
    RefundRequest {
        amount_minor: None,
        lines: ret
            .lines
            .iter()
            .map(|l| RefundLineRequest { line_no: l.line_no, quantity: l.quantity, restock: false })
            .collect(),
        shipping: false,
        reason: Some(format!("return {}", ret.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReturnEvent as E;
    use ReturnStatus as S;

    #[test]
    fn every_return_transition_allowed_or_forbidden() {
        let allowed = [
            (S::Requested, E::Approve, S::Approved),
            (S::Requested, E::Reject, S::Rejected),
            (S::Requested, E::Withdraw, S::Withdrawn),
            (S::Approved, E::Withdraw, S::Withdrawn),
            (S::Approved, E::Receive, S::Received),
            (S::Received, E::Refund, S::Refunded),
        ];
        let mut checked = 0;
        for from in S::ALL {
            for event in E::ALL {
                let want = allowed.iter().find(|(f, e, _)| *f == from && *e == event).map(|(_, _, to)| *to);
                match (return_transition(from, event), want) {
                    (Ok(to), Some(w)) => assert_eq!(to, w, "{from:?} + {event:?}"),
                    (Err(e), None) => assert_eq!(e, IllegalReturnTransition { from, event }),
                    (got, want) => panic!("{from:?} + {event:?}: got {got:?}, expected {want:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 30);
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert!(S::Rejected.releases_units() && S::Withdrawn.releases_units() && !S::Received.releases_units());
    }

    fn delivered(days_ago: i64) -> Order {
        let mut o = crate::refund::tests_support::order();
        o.status = OrderStatus::Delivered;
        o.delivered_at = Some(Utc::now() - Duration::days(days_ago));
        for l in &mut o.lines {
            l.shipped_quantity = l.quantity;
        }
        o
    }

    fn ask(lines: &[(i32, i32)]) -> ReturnRequest {
        ReturnRequest {
            lines: lines.iter().map(|&(line_no, quantity)| ReturnLineRequest { line_no, quantity }).collect(),
            reason: "too small".into(),
        }
    }

    #[test]
    fn a_return_needs_a_delivered_order_in_its_window_and_units_left() {
        let now = Utc::now();
        assert_eq!(plan_return(&delivered(3), &ask(&[(1, 2)]), now, 30).unwrap()[0].quantity, 2);
        assert!(matches!(plan_return(&delivered(31), &ask(&[(1, 1)]), now, 30), Err(ReturnRefusal::WindowClosed(_))));
        let mut paid = delivered(1);
        paid.status = OrderStatus::Paid;
        assert_eq!(plan_return(&paid, &ask(&[(1, 1)]), now, 30), Err(ReturnRefusal::NotDelivered(OrderStatus::Paid)));
        assert_eq!(
            plan_return(&delivered(1), &ask(&[(9, 1)]), now, 30),
            Err(ReturnRefusal::UnknownLine { line_no: 9 })
        );
        // Three units: one refunded, one in an open return, so one can be asked back.
        let mut o = delivered(1);
        o.lines[0].refunded_quantity = 1;
        o.lines[0].returned_quantity = 1;
        assert_eq!(
            plan_return(&o, &ask(&[(1, 1), (1, 1)]), now, 30),
            Err(ReturnRefusal::LineExceeded { line_no: 1, returnable_quantity: 0 })
        );
        assert!(plan_return(&o, &ask(&[(1, 1)]), now, 30).is_ok());
    }

    #[test]
    fn receiving_restocks_all_but_damaged_lines_once() {
        let mut o = delivered(1);
        o.lines[0].restocked_quantity = 2; // restocked by an earlier refund
        let lines =
            [LineUnits { line_no: 1, quantity: 2, restocked: 0 }, LineUnits { line_no: 2, quantity: 1, restocked: 0 }];
        assert_eq!(
            receive(&o, &lines, &[]),
            vec![
                LineUnits { line_no: 1, quantity: 2, restocked: 1 },
                LineUnits { line_no: 2, quantity: 1, restocked: 1 }
            ]
        );
        assert_eq!(receive(&o, &lines, &[2])[1].restocked, 0);
        let ret = Return {
            id: Uuid::from_u128(9),
            order_id: o.id,
            status: ReturnStatus::Received,
            lines: lines.to_vec(),
            reason: "x".into(),
            note: None,
            refund_id: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let r = refund_request(&ret);
        assert_eq!((r.amount_minor, r.shipping, r.lines.len()), (None, false, 2));
        assert!(r.lines.iter().all(|l| !l.restock));
    }
}
