//! The order state machine, as pure code.
//!
//! ```text
//!                ┌─action required─► requires_action ─┬─pay──► paid
//!                │                    │  (3-D Secure)  ├─fail─► payment_failed
//!                │                    │                └─cancel/expire─► cancelled
//! pending_payment ──pay──► paid ──ship──► shipped ──deliver──► delivered
//!   │  │                    │ │             ▲  │                    │
//!   │  │                    │ └─ship part─► partially_shipped       │
//!   │  │                    │       (ship part)  │ ├─ship the rest──┘ (to shipped)
//!   │  │                    │                    │ └─cancel the rest─► shipped
//!   │  └─fail─► payment_failed                   └──────refund────────┴──► refunded
//!   └─cancel/expire─► cancelled ◄─cancel─ paid ──refund──► refunded
//! ```
//!
//! `requires_action` takes `action required` again when the customer pays with another card
//! that needs authentication too. Which of `ship` and `ship part` a shipment is, and what
//! cancelling the rest refunds, is decided by [`crate::fulfilment`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::repo::TransitionData;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    /// The customer has to authenticate the payment (3-D Secure); stock stays reserved until
    /// the order expires.
    RequiresAction,
    Paid,
    /// Some units shipped, others still to ship.
    PartiallyShipped,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
    PaymentFailed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::PendingPayment,
        OrderStatus::RequiresAction,
        OrderStatus::Paid,
        OrderStatus::PartiallyShipped,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
        OrderStatus::PaymentFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::RequiresAction => "requires_action",
            OrderStatus::Paid => "paid",
            OrderStatus::PartiallyShipped => "partially_shipped",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
            OrderStatus::PaymentFailed => "payment_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        OrderStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, OrderStatus::Cancelled | OrderStatus::Refunded | OrderStatus::PaymentFailed)
    }

    /// An order in this status may have refunds: it was paid once (a waiting order never was,
    /// and none goes back to waiting).
    pub fn may_have_refunds(self) -> bool {
        !matches!(self, OrderStatus::PendingPayment | OrderStatus::RequiresAction)
    }

    /// An order in this status may have returns: returns are of delivered orders, which stay
    /// delivered or become refunded.
    pub fn may_have_returns(self) -> bool {
        matches!(self, OrderStatus::Delivered | OrderStatus::Refunded)
    }

    /// An order in this status may have shipments: it shipped something (cancelled and unpaid
    /// orders never did).
    pub fn may_have_shipments(self) -> bool {
        matches!(
            self,
            OrderStatus::PartiallyShipped | OrderStatus::Shipped | OrderStatus::Delivered | OrderStatus::Refunded
        )
    }
}

/// Something that happens to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The payment provider asks the customer to authenticate (3-D Secure).
    ActionRequired,
    /// The payment provider authorised the payment.
    PaymentSucceeded,
    /// The payment provider declined.
    PaymentFailed,
    /// The last units handed to a carrier (all of them, or the rest).
    Ship,
    /// Some units handed to a carrier, others left to ship.
    ShipPart,
    Deliver,
    /// The customer or an admin cancels before shipping (or an admin cancels the unshipped
    /// rest of a partly shipped order).
    Cancel,
    /// Unpaid past the payment deadline.
    Expire,
    /// Money back.
    Refund,
}

impl Event {
    pub const ALL: [Event; 9] = [
        Event::ActionRequired,
        Event::PaymentSucceeded,
        Event::PaymentFailed,
        Event::Ship,
        Event::ShipPart,
        Event::Deliver,
        Event::Cancel,
        Event::Expire,
        Event::Refund,
    ];
}

/// What a transition requires besides the status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effects {
    /// Return the reserved stock of the units that never shipped to inventory.
    pub restock: bool,
    /// Give back through the payment provider what was paid for the units that will not ship:
    /// everything not refunded yet, or, for the rest of a partly shipped order, its unshipped
    /// units ([`crate::fulfilment::plan_cancel_rest`]).
    pub refund_payment: bool,
    /// Release at the provider what is authorised and not captured (an order captured at
    /// shipment that will not ship whole); nothing for an order charged at checkout.
    pub release_authorization: bool,
    /// Give the order's promotion redemptions back (it ends cancelled or unpaid): they no
    /// longer count against the promotions' usage limits.
    pub release_promotions: bool,
    /// Put the order's lines and codes back in the customer's cart (a declined card: the
    /// shopper pays again with another card without re-adding anything).
    pub restore_cart: bool,
    /// Cancel the payment waiting for the customer's authentication at the provider, so it
    /// cannot complete after the order ended.
    pub cancel_payment: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {from:?} cannot take {event:?}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub event: Event,
}

/// The status after `event`, and its side effects; `IllegalTransition` for everything else.
pub fn transition(from: OrderStatus, event: Event) -> Result<(OrderStatus, Effects), IllegalTransition> {
    use Event as E;
    use OrderStatus as S;
    let none = Effects::default();
    let restock = Effects { restock: true, release_promotions: true, ..none };
    let declined = Effects { restore_cart: true, ..restock };
    let cancel_paid =
        Effects { restock: true, refund_payment: true, release_promotions: true, release_authorization: true, ..none };
    let cancel_rest = Effects { restock: true, refund_payment: true, release_authorization: true, ..none };
    let abandoned = Effects { cancel_payment: true, ..restock };
    Ok(match (from, event) {
        (S::PendingPayment | S::RequiresAction, E::ActionRequired) => (S::RequiresAction, none),
        (S::PendingPayment | S::RequiresAction, E::PaymentSucceeded) => (S::Paid, none),
        (S::PendingPayment | S::RequiresAction, E::PaymentFailed) => (S::PaymentFailed, declined),
        (S::PendingPayment, E::Cancel | E::Expire) => (S::Cancelled, restock),
        (S::RequiresAction, E::Cancel | E::Expire) => (S::Cancelled, abandoned),
        (S::Paid | S::PartiallyShipped, E::Ship) => (S::Shipped, none),
        (S::Paid | S::PartiallyShipped, E::ShipPart) => (S::PartiallyShipped, none),
        (S::Paid, E::Cancel) => (S::Cancelled, cancel_paid),
        // The unshipped rest is cancelled; what shipped stays shipped.
        (S::PartiallyShipped, E::Cancel) => (S::Shipped, cancel_rest),
        (S::Shipped, E::Deliver) => (S::Delivered, none),
        // Reached when refunds add up to the total; the money and the units they restock are
        // the refunds' own (`crate::refund`), not effects of the move.
        (S::Paid | S::PartiallyShipped | S::Shipped | S::Delivered, E::Refund) => (S::Refunded, none),
        _ => return Err(IllegalTransition { from, event }),
    })
}

/// Everything one transition writes to the order row, decided here so the adapter writes it as
/// one changeset: the new status, the timestamp of reaching it, the fields the event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub to: OrderStatus,
    pub effects: Effects,
    pub paid_at: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Set by cancellation, expiry and a failed payment (the order ends unpaid or unshipped).
    pub cancelled_at: Option<DateTime<Utc>>,
    pub refunded_at: Option<DateTime<Utc>>,
    /// With `Ship` and `ShipPart` only.
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// The provider's payment reference and decline reason, when the event brings them.
    pub payment_id: Option<String>,
    pub payment_error: Option<String>,
    /// With `ActionRequired` only.
    pub payment_action: Option<crate::PaymentAction>,
    /// What the order has captured after it, when that changes: set by the caller from
    /// [`crate::fulfilment::captured_when_paid`] (the order's capture mode is not the state
    /// machine's concern).
    pub captured_minor: Option<i64>,
}

/// What `event` does to an order in `from` at `now`, with `data` from the caller.
pub fn changes(
    from: OrderStatus,
    event: Event,
    data: &TransitionData,
    now: DateTime<Utc>,
) -> Result<Changes, IllegalTransition> {
    let (to, effects) = transition(from, event)?;
    // Cancelling the rest of a partly shipped order is the merchant's call.
    if data.owner.is_some() && from == OrderStatus::PartiallyShipped && event == Event::Cancel {
        return Err(IllegalTransition { from, event });
    }
    let at = |s: OrderStatus| (to == s).then_some(now);
    let shipped = matches!(event, Event::Ship | Event::ShipPart);
    Ok(Changes {
        to,
        effects,
        paid_at: at(OrderStatus::Paid),
        shipped_at: at(OrderStatus::Shipped),
        delivered_at: at(OrderStatus::Delivered),
        cancelled_at: matches!(to, OrderStatus::Cancelled | OrderStatus::PaymentFailed).then_some(now),
        refunded_at: at(OrderStatus::Refunded),
        carrier: data.carrier.clone().filter(|_| shipped),
        tracking_number: data.tracking_number.clone().filter(|_| shipped),
        payment_id: data.payment_id.clone(),
        payment_error: data.payment_error.clone(),
        payment_action: data.payment_action.clone().filter(|_| to == OrderStatus::RequiresAction),
        captured_minor: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event as E;
    use OrderStatus as S;

    /// Every allowed pair: exactly the timestamp of the status reached is set, the carrier only
    /// when shipping, the payment fields whenever given; refused pairs are refused as by
    /// `transition`.
    #[test]
    fn changes_of_every_pair() {
        let now = Utc::now();
        let data = TransitionData {
            carrier: Some("DHL".into()),
            tracking_number: Some("T1".into()),
            payment_id: Some("pi_1".into()),
            ..Default::default()
        };
        for from in S::ALL {
            for event in E::ALL {
                let Ok(c) = changes(from, event, &data, now) else {
                    assert!(transition(from, event).is_err(), "{from:?} + {event:?}");
                    continue;
                };
                assert_eq!((c.to, c.effects), transition(from, event).unwrap(), "{from:?} + {event:?}");
                let stamps = [
                    (S::Paid, c.paid_at),
                    (S::Shipped, c.shipped_at),
                    (S::Delivered, c.delivered_at),
                    (S::Refunded, c.refunded_at),
                ];
                for (status, stamp) in stamps {
                    assert_eq!(stamp, (c.to == status).then_some(now), "{from:?} + {event:?}: {status:?}");
                }
                assert_eq!(c.cancelled_at.is_some(), matches!(c.to, S::Cancelled | S::PaymentFailed));
                assert_eq!(c.carrier.is_some() && c.tracking_number.is_some(), matches!(event, E::Ship | E::ShipPart));
                assert_eq!(c.payment_id.as_deref(), Some("pi_1"));
            }
        }
    }

    /// Every (status, event) pair: the allowed ones with their outcome, all others refused.
    #[test]
    fn every_transition_allowed_or_forbidden() {
        // (from, event, to, restock, refund, release the promotions' redemptions, restore the
        // cart, cancel the payment at the provider, release the authorisation)
        type Row = (S, E, S, bool, bool, bool, bool, bool, bool);
        let allowed: &[Row] = &[
            (S::PendingPayment, E::ActionRequired, S::RequiresAction, false, false, false, false, false, false),
            (S::PendingPayment, E::PaymentSucceeded, S::Paid, false, false, false, false, false, false),
            (S::PendingPayment, E::PaymentFailed, S::PaymentFailed, true, false, true, true, false, false),
            (S::PendingPayment, E::Cancel, S::Cancelled, true, false, true, false, false, false),
            (S::PendingPayment, E::Expire, S::Cancelled, true, false, true, false, false, false),
            (S::RequiresAction, E::ActionRequired, S::RequiresAction, false, false, false, false, false, false),
            (S::RequiresAction, E::PaymentSucceeded, S::Paid, false, false, false, false, false, false),
            (S::RequiresAction, E::PaymentFailed, S::PaymentFailed, true, false, true, true, false, false),
            (S::RequiresAction, E::Cancel, S::Cancelled, true, false, true, false, true, false),
            (S::RequiresAction, E::Expire, S::Cancelled, true, false, true, false, true, false),
            (S::Paid, E::Ship, S::Shipped, false, false, false, false, false, false),
            (S::Paid, E::Cancel, S::Cancelled, true, true, true, false, false, true),
            (S::Paid, E::Refund, S::Refunded, false, false, false, false, false, false),
            (S::Shipped, E::Deliver, S::Delivered, false, false, false, false, false, false),
            (S::Shipped, E::Refund, S::Refunded, false, false, false, false, false, false),
            (S::Delivered, E::Refund, S::Refunded, false, false, false, false, false, false),
            (S::Paid, E::ShipPart, S::PartiallyShipped, false, false, false, false, false, false),
            (S::PartiallyShipped, E::Ship, S::Shipped, false, false, false, false, false, false),
            (S::PartiallyShipped, E::ShipPart, S::PartiallyShipped, false, false, false, false, false, false),
            (S::PartiallyShipped, E::Cancel, S::Shipped, true, true, false, false, false, true),
            (S::PartiallyShipped, E::Refund, S::Refunded, false, false, false, false, false, false),
        ];
        let mut checked = 0;
        for from in S::ALL {
            for event in E::ALL {
                let expected = allowed.iter().find(|(f, e, ..)| *f == from && *e == event);
                match (transition(from, event), expected) {
                    (Ok((to, fx)), Some((_, _, want, restock, refund, release, restore, cancel, authorization))) => {
                        assert_eq!(to, *want, "{from:?} + {event:?}");
                        assert_eq!(
                            (
                                fx.restock,
                                fx.refund_payment,
                                fx.release_promotions,
                                fx.restore_cart,
                                fx.cancel_payment,
                                fx.release_authorization
                            ),
                            (*restock, *refund, *release, *restore, *cancel, *authorization),
                            "{from:?} + {event:?}"
                        );
                    }
                    (Err(e), None) => assert_eq!(e, IllegalTransition { from, event }),
                    (got, want) => panic!("{from:?} + {event:?}: got {got:?}, expected {want:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 81);
    }

    #[test]
    fn only_the_merchant_cancels_the_rest_of_a_partly_shipped_order() {
        let now = Utc::now();
        let customer = TransitionData { owner: Some(uuid::Uuid::nil()), ..Default::default() };
        assert_eq!(
            changes(S::PartiallyShipped, E::Cancel, &customer, now),
            Err(IllegalTransition { from: S::PartiallyShipped, event: E::Cancel })
        );
        assert_eq!(changes(S::Paid, E::Cancel, &customer, now).map(|c| c.to), Ok(S::Cancelled));
        let admin = changes(S::PartiallyShipped, E::Cancel, &TransitionData::default(), now).unwrap();
        assert_eq!((admin.to, admin.shipped_at), (S::Shipped, Some(now)));
    }

    #[test]
    fn terminal_states_accept_nothing() {
        for from in S::ALL.into_iter().filter(|s| s.is_terminal()) {
            for event in E::ALL {
                assert!(transition(from, event).is_err(), "{from:?} + {event:?}");
            }
        }
    }

    /// What each status may hold agrees with the machine: shipments only after a ship event,
    /// returns only after delivery, refunds only after a payment.
    #[test]
    fn what_each_status_may_hold() {
        for from in S::ALL {
            for event in E::ALL {
                let Ok((to, _)) = transition(from, event) else { continue };
                if matches!(event, E::Ship | E::ShipPart) {
                    assert!(to.may_have_shipments(), "{from:?} + {event:?}");
                }
                if from.may_have_shipments() {
                    assert!(to.may_have_shipments(), "{from:?} + {event:?}: shipments stay");
                }
                if from.may_have_returns() {
                    assert!(to.may_have_returns(), "{from:?} + {event:?}: returns stay");
                }
                if from.may_have_refunds() {
                    assert!(to.may_have_refunds(), "{from:?} + {event:?}: refunds stay");
                }
            }
        }
        assert!(!S::Paid.may_have_shipments() && !S::Cancelled.may_have_shipments());
        assert!(!S::Shipped.may_have_returns() && S::Delivered.may_have_returns());
        assert!(!S::PendingPayment.may_have_refunds() && S::Paid.may_have_refunds());
    }

    #[test]
    fn statuses_round_trip_as_strings() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::parse("lost"), None);
    }
}
