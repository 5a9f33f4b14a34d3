//! The order state machine, as pure code.
//!
//! ```text
//!                ┌─action required─► requires_action ─┬─pay──► paid
//!                │                    │  (3-D Secure)  ├─fail─► payment_failed
//!                │                    │                └─cancel/expire─► cancelled
//! pending_payment ──pay──► paid ──ship──► shipped ──deliver──► delivered
//!   │  │                    │               │                    │
//!   │  └─fail─► payment_failed               └──────refund───────┴──► refunded
//!   └─cancel/expire─► cancelled ◄─cancel─ paid ──refund──► refunded
//! ```
//!
//! `requires_action` takes `action required` again when the customer pays with another card
//! that needs authentication too.

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
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
    PaymentFailed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::PendingPayment,
        OrderStatus::RequiresAction,
        OrderStatus::Paid,
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
    /// Handed to a carrier.
    Ship,
    Deliver,
    /// The customer or an admin cancels before shipping.
    Cancel,
    /// Unpaid past the payment deadline.
    Expire,
    /// Money back.
    Refund,
}

impl Event {
    pub const ALL: [Event; 8] = [
        Event::ActionRequired,
        Event::PaymentSucceeded,
        Event::PaymentFailed,
        Event::Ship,
        Event::Deliver,
        Event::Cancel,
        Event::Expire,
        Event::Refund,
    ];
}

/// What a transition requires besides the status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effects {
    /// Return the reserved stock to inventory.
    pub restock: bool,
    /// Give back through the payment provider whatever is not refunded yet (a refund of the rest).
    pub refund_payment: bool,
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
    let cancel_paid = Effects { restock: true, refund_payment: true, release_promotions: true, ..none };
    let abandoned = Effects { cancel_payment: true, ..restock };
    Ok(match (from, event) {
        (S::PendingPayment | S::RequiresAction, E::ActionRequired) => (S::RequiresAction, none),
        (S::PendingPayment | S::RequiresAction, E::PaymentSucceeded) => (S::Paid, none),
        (S::PendingPayment | S::RequiresAction, E::PaymentFailed) => (S::PaymentFailed, declined),
        (S::PendingPayment, E::Cancel | E::Expire) => (S::Cancelled, restock),
        (S::RequiresAction, E::Cancel | E::Expire) => (S::Cancelled, abandoned),
        (S::Paid, E::Ship) => (S::Shipped, none),
        (S::Paid, E::Cancel) => (S::Cancelled, cancel_paid),
        (S::Shipped, E::Deliver) => (S::Delivered, none),
        // Reached when refunds add up to the total; the money and the units they restock are
        // the refunds' own (`crate::refund`), not effects of the move.
        (S::Paid | S::Shipped | S::Delivered, E::Refund) => (S::Refunded, none),
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
    /// With `Ship` only.
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// The provider's payment reference and decline reason, when the event brings them.
    pub payment_id: Option<String>,
    pub payment_error: Option<String>,
    /// With `ActionRequired` only.
    pub payment_action: Option<crate::PaymentAction>,
}

/// What `event` does to an order in `from` at `now`, with `data` from the caller.
pub fn changes(
    from: OrderStatus,
    event: Event,
    data: &TransitionData,
    now: DateTime<Utc>,
) -> Result<Changes, IllegalTransition> {
    let (to, effects) = transition(from, event)?;
    let at = |s: OrderStatus| (to == s).then_some(now);
    let shipped = to == OrderStatus::Shipped;
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
                assert_eq!(c.carrier.is_some() && c.tracking_number.is_some(), c.to == S::Shipped);
                assert_eq!(c.payment_id.as_deref(), Some("pi_1"));
            }
        }
    }

    /// Every (status, event) pair: the allowed ones with their outcome, all others refused.
    #[test]
    fn every_transition_allowed_or_forbidden() {
        // (from, event, to, restock, refund, release the promotions' redemptions, restore the
        // cart, cancel the payment at the provider)
        type Row = (S, E, S, bool, bool, bool, bool, bool);
        let allowed: &[Row] = &[
            (S::PendingPayment, E::ActionRequired, S::RequiresAction, false, false, false, false, false),
            (S::PendingPayment, E::PaymentSucceeded, S::Paid, false, false, false, false, false),
            (S::PendingPayment, E::PaymentFailed, S::PaymentFailed, true, false, true, true, false),
            (S::PendingPayment, E::Cancel, S::Cancelled, true, false, true, false, false),
            (S::PendingPayment, E::Expire, S::Cancelled, true, false, true, false, false),
            (S::RequiresAction, E::ActionRequired, S::RequiresAction, false, false, false, false, false),
            (S::RequiresAction, E::PaymentSucceeded, S::Paid, false, false, false, false, false),
            (S::RequiresAction, E::PaymentFailed, S::PaymentFailed, true, false, true, true, false),
            (S::RequiresAction, E::Cancel, S::Cancelled, true, false, true, false, true),
            (S::RequiresAction, E::Expire, S::Cancelled, true, false, true, false, true),
            (S::Paid, E::Ship, S::Shipped, false, false, false, false, false),
            (S::Paid, E::Cancel, S::Cancelled, true, true, true, false, false),
            (S::Paid, E::Refund, S::Refunded, false, false, false, false, false),
            (S::Shipped, E::Deliver, S::Delivered, false, false, false, false, false),
            (S::Shipped, E::Refund, S::Refunded, false, false, false, false, false),
            (S::Delivered, E::Refund, S::Refunded, false, false, false, false, false),
        ];
        let mut checked = 0;
        for from in S::ALL {
            for event in E::ALL {
                let expected = allowed.iter().find(|(f, e, ..)| *f == from && *e == event);
                match (transition(from, event), expected) {
                    (Ok((to, fx)), Some((_, _, want, restock, refund, release, restore, cancel))) => {
                        assert_eq!(to, *want, "{from:?} + {event:?}");
                        assert_eq!(
                            (fx.restock, fx.refund_payment, fx.release_promotions, fx.restore_cart, fx.cancel_payment),
                            (*restock, *refund, *release, *restore, *cancel),
                            "{from:?} + {event:?}"
                        );
                    }
                    (Err(e), None) => assert_eq!(e, IllegalTransition { from, event }),
                    (got, want) => panic!("{from:?} + {event:?}: got {got:?}, expected {want:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 64);
    }

    #[test]
    fn terminal_states_accept_nothing() {
        for from in S::ALL.into_iter().filter(|s| s.is_terminal()) {
            for event in E::ALL {
                assert!(transition(from, event).is_err(), "{from:?} + {event:?}");
            }
        }
    }

    #[test]
    fn statuses_round_trip_as_strings() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::parse("lost"), None);
    }
}
