//! Shipments and capture at shipment as pure decisions. The adapter locks the order row, calls
//! these, and writes what they decide in the same transaction; the provider is called after the
//! commit with each shipment's own idempotency key, so a retried capture never charges twice.
//!
//! An order ships in one or more shipments of chosen units. It is `partially_shipped` until
//! every unit has shipped (then `shipped`), or until the unshipped rest is cancelled (restocked,
//! and refunded or released; the order is then `shipped`). It is `delivered` when it has
//! shipped and every shipment is delivered.
//!
//! Units per line: `shippable = quantity − shipped − restocked` (a unit back in stock never
//! ships; before an order has shipped whole, only unshipped units can be restocked).
//!
//! Capture. With [`CaptureMode::Automatic`] the payment is charged at checkout and shipments
//! capture nothing. With [`CaptureMode::OnShipment`] checkout only authorises; each shipment
//! captures the value of its units by the refund rounding rule ([`crate::refund::value`]), the
//! first one with the shipping:
//!
//! ```text
//! capture_k = value(units shipped after k, shipping) − value(units shipped before k, shipping if k > 1)
//! ```
//!
//! so the captures of an order shipped whole sum to exactly its total. The shipment that ships
//! the last units makes the final capture (the provider releases whatever was not captured);
//! cancelling the unshipped rest releases the authorisation instead. Refunds never pass what
//! was captured.

use chrono::{DateTime, Utc};
use primitives::Money;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::valid_token;
use crate::state::{Event, transition};
use crate::{Order, OrderLine, OrderStatus, RefundPlan};

/// When the payment is taken (`payments.capture`): kept on each order as it was at checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// Charged at checkout.
    #[default]
    Automatic,
    /// Authorised at checkout, captured per shipment.
    OnShipment,
}

impl CaptureMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureMode::Automatic => "automatic",
            CaptureMode::OnShipment => "on_shipment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [CaptureMode::Automatic, CaptureMode::OnShipment].into_iter().find(|m| m.as_str() == s)
    }
}

/// Units of one order line in a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ShipLine {
    #[garde(range(min = 1, max = 1000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub line_no: i32,
    #[garde(range(min = 1, max = 1000))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub quantity: i32,
}

/// `POST /admin/orders/{id}/shipments` (and `/ship`) body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, garde::Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ShipmentRequest {
    #[garde(length(chars, min = 1, max = 50))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 50))]
    pub carrier: String,
    #[garde(length(min = 1, max = 100), custom(valid_token))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub tracking_number: String,
    /// The units in the parcel; empty (the default): every unit left to ship.
    #[garde(length(max = 100), dive)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    #[serde(default)]
    pub lines: Vec<ShipLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    Shipped,
    Delivered,
}

impl ShipmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentStatus::Shipped => "shipped",
            ShipmentStatus::Delivered => "delivered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ShipmentStatus::Shipped, ShipmentStatus::Delivered].into_iter().find(|m| m.as_str() == s)
    }
}

/// Where a shipment's capture stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CaptureStatus {
    /// The order was charged at checkout.
    NotNeeded,
    /// Recorded; the provider has not confirmed it (retried with the same key until it does).
    Pending,
    Captured,
    /// The provider refused it: the order is flagged (`capture_failed`) for an admin, who may
    /// retry it.
    Failed,
}

impl CaptureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureStatus::NotNeeded => "not_needed",
            CaptureStatus::Pending => "pending",
            CaptureStatus::Captured => "captured",
            CaptureStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [CaptureStatus::NotNeeded, CaptureStatus::Pending, CaptureStatus::Captured, CaptureStatus::Failed]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// One parcel of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Shipment {
    pub id: Uuid,
    pub order_id: Uuid,
    /// 1, 2, ... within the order.
    pub number: i32,
    pub carrier: String,
    pub tracking_number: String,
    pub lines: Vec<ShipLine>,
    pub status: ShipmentStatus,
    /// What this shipment captures (zero when the order was charged at checkout).
    pub capture: Money,
    pub capture_status: CaptureStatus,
    /// The provider's reason, when the capture failed.
    pub capture_error: Option<String>,
    /// The order's last capture: the provider releases whatever is not captured.
    pub final_capture: bool,
    pub created_at: DateTime<Utc>,
    pub captured_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// How much of an order's payment is taken, from the sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CaptureState {
    /// Nothing taken (not paid, or authorised and not shipped yet).
    None,
    PartiallyCaptured,
    Captured,
}

impl CaptureState {
    pub fn of(captured_minor: i64, total_minor: i64) -> Self {
        match captured_minor {
            0 if total_minor > 0 => CaptureState::None,
            c if c >= total_minor => CaptureState::Captured,
            _ => CaptureState::PartiallyCaptured,
        }
    }
}

/// Why a shipment cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ShipmentRefusal {
    #[error("the order has no line {line_no}")]
    UnknownLine { line_no: i32 },
    #[error("line {line_no} has {shippable_quantity} units left to ship")]
    LineExceeded { line_no: i32, shippable_quantity: i32 },
    #[error("the order has no shipment {0}")]
    UnknownShipment(Uuid),
    /// Only a failed capture is retried.
    #[error("the shipment's capture is {0:?}, not failed")]
    CaptureNotFailed(CaptureStatus),
}

/// What one shipment writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentPlan {
    /// Merged per line, in `line_no` order.
    pub lines: Vec<ShipLine>,
    /// `Ship` when it ships the last units, `ShipPart` otherwise.
    pub event: Event,
    /// What it captures: zero unless the order is captured at shipment.
    pub capture: Money,
    pub final_capture: bool,
}

/// Units of `line` that can still ship.
pub fn shippable(line: &OrderLine) -> i32 {
    (line.quantity - line.shipped_quantity - line.restocked_quantity).max(0)
}

/// Units of `line` the customer was charged for (or will be, when what is left ships): every
/// unit when charged at checkout, the shipped ones when captured at shipment.
pub fn charged(order: &Order, line: &OrderLine) -> i32 {
    match order.capture_mode {
        CaptureMode::Automatic => line.quantity,
        CaptureMode::OnShipment => line.shipped_quantity,
    }
}

/// What an order has captured once its payment is approved: its total when charged at
/// checkout; nothing yet (`None`: unchanged) when captured at shipment.
pub fn captured_when_paid(mode: CaptureMode, total_minor: i64) -> Option<i64> {
    (mode == CaptureMode::Automatic).then_some(total_minor)
}

/// Whether the order has units left to ship.
pub fn has_unshipped(order: &Order) -> bool {
    order.lines.iter().any(|l| shippable(l) > 0)
}

/// The order still holds an authorisation to release when it ends: captured at shipment, not
/// captured whole, and its final capture not made.
pub fn holds_authorization(order: &Order) -> bool {
    order.capture_mode == CaptureMode::OnShipment
        && order.payment_id.is_some()
        && order.captured.amount_minor < order.total.amount_minor
        && !order.shipments.iter().any(|s| s.final_capture)
}

/// Plans shipping `lines` of `order` (read under its row lock); empty `lines`: every unit left.
pub fn plan_shipment(order: &Order, lines: &[ShipLine]) -> Result<ShipmentPlan, crate::OrderError> {
    // Refused exactly where the state machine refuses shipping.
    transition(order.status, Event::Ship)?;
    let mut asked: Vec<ShipLine> = Vec::new();
    if lines.is_empty() {
        asked = order
            .lines
            .iter()
            .filter(|l| shippable(l) > 0)
            .map(|l| ShipLine { line_no: l.line_no, quantity: shippable(l) })
            .collect();
    } else {
        for r in lines {
            let line = order
                .lines
                .iter()
                .find(|l| l.line_no == r.line_no)
                .ok_or(ShipmentRefusal::UnknownLine { line_no: r.line_no })?;
            let already: i32 = asked.iter().filter(|a| a.line_no == r.line_no).map(|a| a.quantity).sum();
            let shippable_quantity = shippable(line) - already;
            if r.quantity > shippable_quantity {
                return Err(ShipmentRefusal::LineExceeded {
                    line_no: r.line_no,
                    shippable_quantity: shippable_quantity.max(0),
                }
                .into());
            }
            match asked.iter_mut().find(|a| a.line_no == r.line_no) {
                Some(a) => a.quantity += r.quantity,
                None => asked.push(*r),
            }
        }
        asked.sort_by_key(|a| a.line_no);
    }
    if asked.is_empty() {
        // Nothing left to ship: as the state machine would say of a shipped order.
        return Err(crate::IllegalTransition { from: OrderStatus::Shipped, event: Event::Ship }.into());
    }
    let before: Vec<i32> = order.lines.iter().map(|l| l.shipped_quantity).collect();
    let after: Vec<i32> = order
        .lines
        .iter()
        .map(|l| l.shipped_quantity + asked.iter().find(|a| a.line_no == l.line_no).map_or(0, |a| a.quantity))
        .collect();
    let completes = order.lines.iter().zip(&after).all(|(l, s)| l.quantity - s - l.restocked_quantity <= 0);
    let capture = match order.capture_mode {
        CaptureMode::Automatic => 0,
        CaptureMode::OnShipment => {
            let shipped_before = order.lines.iter().any(|l| l.shipped_quantity > 0);
            crate::refund::value(order, &after, true) - crate::refund::value(order, &before, shipped_before)
        }
    };
    Ok(ShipmentPlan {
        lines: asked,
        event: if completes { Event::Ship } else { Event::ShipPart },
        capture: Money::new(capture.max(0), order.total.currency),
        final_capture: completes && order.capture_mode == CaptureMode::OnShipment && capture > 0,
    })
}

/// The refund of cancelling the unshipped rest of a partly shipped order charged at checkout:
/// its unshipped units not refunded yet (before they are restocked), never more than is left of
/// what was captured. `None` for an order captured at shipment (the rest was never charged; its
/// authorisation is released) or when nothing is left.
pub fn plan_cancel_rest(order: &Order) -> Option<RefundPlan> {
    if order.capture_mode == CaptureMode::OnShipment {
        return None;
    }
    let before: Vec<i32> = order.lines.iter().map(|l| l.refunded_quantity).collect();
    let mut lines = Vec::new();
    let mut after = before.clone();
    for (l, a) in order.lines.iter().zip(after.iter_mut()) {
        let units = shippable(l).min(l.quantity - l.refunded_quantity - l.returned_quantity);
        if units > 0 {
            *a += units;
            // Restocked by the cancellation itself (ledger reason `cancellation`).
            lines.push(crate::LineUnits { line_no: l.line_no, quantity: units, restocked: 0 });
        }
    }
    let left = order.captured.amount_minor - order.refunded.amount_minor;
    let worth = crate::refund::value(order, &after, order.shipping_refunded)
        - crate::refund::value(order, &before, order.shipping_refunded);
    let amount = worth.min(left);
    (amount > 0).then(|| RefundPlan {
        amount: Money::new(amount, order.total.currency),
        lines,
        shipping: false,
        completes: order.refunded.amount_minor + amount >= order.total.amount_minor,
    })
}

/// Refunding the rest (the move to `refunded`) is refused where the state machine refuses it,
/// and for an order captured at shipment with units left to ship (the unshipped units were never
/// charged: cancel the rest first, which releases them).
pub fn check_refund_rest(order: &Order) -> Result<(), crate::IllegalTransition> {
    transition(order.status, Event::Refund)?;
    if order.capture_mode == CaptureMode::OnShipment && has_unshipped(order) {
        return Err(crate::IllegalTransition { from: order.status, event: Event::Refund });
    }
    Ok(())
}

/// A partly shipped order with nothing left to ship (refunds restocked its last unshipped
/// units): its rest is closed as a cancellation of the rest would (to `shipped`).
pub fn rest_closed(order: &Order) -> bool {
    order.status == OrderStatus::PartiallyShipped && !has_unshipped(order)
}

/// Every shipment of the order is delivered (and it has one).
pub fn all_delivered(order: &Order) -> bool {
    !order.shipments.is_empty() && delivered_with(order, &[])
}

/// Every shipment of the order is delivered once `delivering` are: the one rule for "delivered",
/// before a delivery is written ([`plan_delivery`]) and after ([`all_delivered`]).
fn delivered_with(order: &Order, delivering: &[Uuid]) -> bool {
    order.shipments.iter().all(|s| s.status == ShipmentStatus::Delivered || delivering.contains(&s.id))
}

/// What delivering writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPlan {
    /// The shipments to mark delivered (none: delivered before, nothing to do).
    pub shipments: Vec<Uuid>,
    /// The order is delivered with them: it has shipped and every shipment is then delivered.
    pub delivers_order: bool,
}

/// Plans delivering shipment `id` of `order`, or (`None`) every shipment of a shipped order.
pub fn plan_delivery(order: &Order, id: Option<Uuid>) -> Result<DeliveryPlan, crate::OrderError> {
    let illegal = || crate::IllegalTransition { from: order.status, event: Event::Deliver };
    let open = |s: &&Shipment| s.status == ShipmentStatus::Shipped;
    let shipments: Vec<Uuid> = match id {
        // The whole order: only once it has shipped.
        None if order.status == OrderStatus::Shipped => order.shipments.iter().filter(open).map(|s| s.id).collect(),
        None => return Err(illegal().into()),
        Some(id) => {
            let s = order.shipments.iter().find(|s| s.id == id).ok_or(ShipmentRefusal::UnknownShipment(id))?;
            if !matches!(order.status, OrderStatus::PartiallyShipped | OrderStatus::Shipped) {
                // Its order was delivered, refunded, ... meanwhile: a repeat changes nothing.
                return if s.status == ShipmentStatus::Delivered { Ok(no_delivery()) } else { Err(illegal().into()) };
            }
            if open(&s) { vec![id] } else { vec![] }
        }
    };
    let delivers_order = order.status == OrderStatus::Shipped && delivered_with(order, &shipments);
    Ok(DeliveryPlan { shipments, delivers_order })
}

fn no_delivery() -> DeliveryPlan {
    DeliveryPlan { shipments: vec![], delivers_order: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refund::tests_support::order;

    fn ship(l: i32, q: i32) -> ShipLine {
        ShipLine { line_no: l, quantity: q }
    }

    fn on_shipment() -> Order {
        Order { capture_mode: CaptureMode::OnShipment, captured: Money::new(0, order().total.currency), ..order() }
    }

    fn apply(o: &mut Order, plan: &ShipmentPlan) {
        for s in &plan.lines {
            let l = o.lines.iter_mut().find(|l| l.line_no == s.line_no).unwrap();
            l.shipped_quantity += s.quantity;
        }
        o.captured.amount_minor += plan.capture.amount_minor;
        o.status = if plan.event == Event::Ship { OrderStatus::Shipped } else { OrderStatus::PartiallyShipped };
    }

    #[test]
    fn shipping_everything_at_once_captures_the_total() {
        let o = on_shipment();
        let plan = plan_shipment(&o, &[]).unwrap();
        assert_eq!(plan.lines, vec![ship(1, 3), ship(2, 1)]);
        assert_eq!(plan.event, Event::Ship);
        assert_eq!(plan.capture.amount_minor, o.total.amount_minor);
        assert!(plan.final_capture);
        // Charged at checkout: nothing to capture.
        let auto = plan_shipment(&order(), &[]).unwrap();
        assert_eq!((auto.capture.amount_minor, auto.final_capture), (0, false));
    }

    /// Every way of splitting the units into shipments captures exactly the total, each piece
    /// at least zero, and only the last one is final.
    #[test]
    fn shipments_in_any_split_capture_exactly_the_total() {
        let splits: &[&[&[(i32, i32)]]] = &[
            &[&[(1, 1)], &[(1, 1)], &[(1, 1)], &[(2, 1)]],
            &[&[(2, 1)], &[(1, 2)], &[(1, 1)]],
            &[&[(1, 1), (2, 1)], &[(1, 2)]],
            &[&[(1, 3)], &[(2, 1)]],
        ];
        for split in splits {
            let mut o = on_shipment();
            let mut sum = 0;
            for (k, parcel) in split.iter().enumerate() {
                let lines: Vec<ShipLine> = parcel.iter().map(|(l, q)| ship(*l, *q)).collect();
                let plan = plan_shipment(&o, &lines).unwrap();
                let last = k + 1 == split.len();
                assert_eq!(plan.event, if last { Event::Ship } else { Event::ShipPart }, "{split:?}");
                assert_eq!(plan.final_capture, last);
                assert!(plan.capture.amount_minor >= 0);
                sum += plan.capture.amount_minor;
                apply(&mut o, &plan);
            }
            assert_eq!(sum, o.total.amount_minor, "{split:?}");
            assert_eq!(o.status, OrderStatus::Shipped);
        }
    }

    #[test]
    fn shipments_are_refused_past_what_is_left_and_in_other_states() {
        let mut o = on_shipment();
        let first = plan_shipment(&o, &[ship(1, 2)]).unwrap();
        apply(&mut o, &first);
        assert!(matches!(
            plan_shipment(&o, &[ship(1, 1), ship(1, 1)]),
            Err(crate::OrderError::Shipment(ShipmentRefusal::LineExceeded { line_no: 1, shippable_quantity: 0 }))
        ));
        assert!(matches!(
            plan_shipment(&o, &[ship(9, 1)]),
            Err(crate::OrderError::Shipment(ShipmentRefusal::UnknownLine { line_no: 9 }))
        ));
        // A unit restocked (refunded before shipping) never ships.
        o.lines[0].restocked_quantity = 1;
        let rest = plan_shipment(&o, &[]).unwrap();
        assert_eq!((rest.lines.clone(), rest.event), (vec![ship(2, 1)], Event::Ship));
        for status in OrderStatus::ALL {
            let o = Order { status, ..on_shipment() };
            let allowed = matches!(status, OrderStatus::Paid | OrderStatus::PartiallyShipped);
            assert_eq!(plan_shipment(&o, &[]).is_ok(), allowed, "{status:?}");
        }
    }

    #[test]
    fn cancelling_the_rest_refunds_the_unshipped_units_of_an_order_charged_at_checkout() {
        let mut o = order();
        let first = plan_shipment(&o, &[ship(1, 1)]).unwrap();
        apply(&mut o, &first);
        let plan = plan_cancel_rest(&o).unwrap();
        assert_eq!(
            plan.lines,
            vec![
                crate::LineUnits { line_no: 1, quantity: 2, restocked: 0 },
                crate::LineUnits { line_no: 2, quantity: 1, restocked: 0 }
            ]
        );
        // Two units of line 1 (2 × 9.00) and line 2 (5.00) with their tax: the shipped unit and
        // the shipping stay paid.
        let kept = crate::refund::value(&o, &[1, 0], true);
        assert_eq!(plan.amount.amount_minor + kept, o.total.amount_minor);
        assert!(!plan.completes);
        // Captured at shipment: the rest was never charged.
        let mut o = on_shipment();
        let first = plan_shipment(&o, &[ship(1, 1)]).unwrap();
        apply(&mut o, &first);
        assert_eq!(plan_cancel_rest(&o), None);
        assert!(holds_authorization(&o));
        assert!(!rest_closed(&o));
        o.lines[0].restocked_quantity = 2;
        o.lines[1].restocked_quantity = 1;
        assert!(rest_closed(&o));
        o.lines[1].restocked_quantity = 0;
        // Nor can the rest be refunded before it is cancelled.
        assert_eq!(
            check_refund_rest(&o),
            Err(crate::IllegalTransition { from: OrderStatus::PartiallyShipped, event: Event::Refund })
        );
        assert_eq!(check_refund_rest(&Order { status: OrderStatus::PartiallyShipped, ..order() }), Ok(()));
    }

    fn parcel(o: &Order, number: i32) -> Shipment {
        Shipment {
            id: Uuid::from_u128(100 + number as u128),
            order_id: o.id,
            number,
            carrier: "DHL".into(),
            tracking_number: format!("T{number}"),
            lines: vec![],
            status: ShipmentStatus::Shipped,
            capture: Money::new(0, o.total.currency),
            capture_status: CaptureStatus::NotNeeded,
            capture_error: None,
            final_capture: false,
            created_at: Utc::now(),
            captured_at: None,
            delivered_at: None,
        }
    }

    #[test]
    fn parcels_are_delivered_one_by_one_and_the_order_with_the_last() {
        let mut o = order();
        o.status = OrderStatus::PartiallyShipped;
        o.shipments = vec![parcel(&o, 1)];
        let (a, b) = (Uuid::from_u128(101), Uuid::from_u128(102));
        // A parcel of a partly shipped order: delivered, the order not.
        assert_eq!(plan_delivery(&o, Some(a)).unwrap(), DeliveryPlan { shipments: vec![a], delivers_order: false });
        assert!(matches!(
            plan_delivery(&o, None),
            Err(crate::OrderError::Illegal(crate::IllegalTransition { from: OrderStatus::PartiallyShipped, .. }))
        ));
        o.shipments[0].status = ShipmentStatus::Delivered;
        o.shipments.push(parcel(&o, 2));
        o.status = OrderStatus::Shipped;
        // The last parcel delivers the order; a repeat of the first changes nothing.
        assert_eq!(plan_delivery(&o, Some(b)).unwrap(), DeliveryPlan { shipments: vec![b], delivers_order: true });
        assert_eq!(plan_delivery(&o, Some(a)).unwrap(), DeliveryPlan { shipments: vec![], delivers_order: false });
        assert_eq!(plan_delivery(&o, None).unwrap(), DeliveryPlan { shipments: vec![b], delivers_order: true });
        assert!(matches!(
            plan_delivery(&o, Some(Uuid::nil())),
            Err(crate::OrderError::Shipment(ShipmentRefusal::UnknownShipment(_)))
        ));
        o.status = OrderStatus::Delivered;
        o.shipments[1].status = ShipmentStatus::Delivered;
        assert_eq!(plan_delivery(&o, Some(b)).unwrap(), no_delivery());
        assert!(plan_delivery(&o, None).is_err());
        o.status = OrderStatus::Paid;
        assert!(plan_delivery(&Order { shipments: vec![], ..o }, None).is_err());
    }

    #[test]
    fn capture_states_follow_the_sums() {
        assert_eq!(CaptureState::of(0, 100), CaptureState::None);
        assert_eq!(CaptureState::of(40, 100), CaptureState::PartiallyCaptured);
        assert_eq!(CaptureState::of(100, 100), CaptureState::Captured);
        assert_eq!(CaptureState::of(0, 0), CaptureState::Captured);
        for m in [CaptureMode::Automatic, CaptureMode::OnShipment] {
            assert_eq!(CaptureMode::parse(m.as_str()), Some(m));
        }
        for s in [CaptureStatus::NotNeeded, CaptureStatus::Pending, CaptureStatus::Captured, CaptureStatus::Failed] {
            assert_eq!(CaptureStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ShipmentStatus::parse("delivered"), Some(ShipmentStatus::Delivered));
    }
}
