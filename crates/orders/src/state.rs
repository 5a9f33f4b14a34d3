//! The order state machine, as pure code.
//!
//! ```text
//! pending_payment ──pay──► paid ──ship──► shipped ──deliver──► delivered
//!   │  │                    │               │                    │
//!   │  └─fail─► payment_failed               └──────refund───────┴──► refunded
//!   └─cancel/expire─► cancelled ◄─cancel─ paid ──refund──► refunded
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
    PaymentFailed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::PendingPayment,
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
    pub const ALL: [Event; 7] = [
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
    /// Give the money back through the payment provider.
    pub refund_payment: bool,
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
    let restock = Effects { restock: true, refund_payment: false };
    let refund_restock = Effects { restock: true, refund_payment: true };
    let refund_only = Effects { restock: false, refund_payment: true };
    Ok(match (from, event) {
        (S::PendingPayment, E::PaymentSucceeded) => (S::Paid, none),
        (S::PendingPayment, E::PaymentFailed) => (S::PaymentFailed, restock),
        (S::PendingPayment, E::Cancel | E::Expire) => (S::Cancelled, restock),
        (S::Paid, E::Ship) => (S::Shipped, none),
        (S::Paid, E::Cancel) => (S::Cancelled, refund_restock),
        (S::Paid, E::Refund) => (S::Refunded, refund_restock),
        (S::Shipped, E::Deliver) => (S::Delivered, none),
        // Goods already left: money back, stock only through a returns process.
        (S::Shipped | S::Delivered, E::Refund) => (S::Refunded, refund_only),
        _ => return Err(IllegalTransition { from, event }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event as E;
    use OrderStatus as S;

    /// Every (status, event) pair: the allowed ones with their outcome, all others refused.
    #[test]
    fn every_transition_allowed_or_forbidden() {
        let allowed: &[(S, E, S, bool, bool)] = &[
            (S::PendingPayment, E::PaymentSucceeded, S::Paid, false, false),
            (S::PendingPayment, E::PaymentFailed, S::PaymentFailed, true, false),
            (S::PendingPayment, E::Cancel, S::Cancelled, true, false),
            (S::PendingPayment, E::Expire, S::Cancelled, true, false),
            (S::Paid, E::Ship, S::Shipped, false, false),
            (S::Paid, E::Cancel, S::Cancelled, true, true),
            (S::Paid, E::Refund, S::Refunded, true, true),
            (S::Shipped, E::Deliver, S::Delivered, false, false),
            (S::Shipped, E::Refund, S::Refunded, false, true),
            (S::Delivered, E::Refund, S::Refunded, false, true),
        ];
        let mut checked = 0;
        for from in S::ALL {
            for event in E::ALL {
                let expected = allowed.iter().find(|(f, e, ..)| *f == from && *e == event);
                match (transition(from, event), expected) {
                    (Ok((to, fx)), Some((_, _, want, restock, refund))) => {
                        assert_eq!(to, *want, "{from:?} + {event:?}");
                        assert_eq!((fx.restock, fx.refund_payment), (*restock, *refund), "{from:?} + {event:?}");
                    }
                    (Err(e), None) => assert_eq!(e, IllegalTransition { from, event }),
                    (got, want) => panic!("{from:?} + {event:?}: got {got:?}, expected {want:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 49);
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
