//! The outbox events of orders: what each carries (schema in docs/events.md). The persistence
//! adapter writes them in the transaction of the change.

use outbox::{NewEvent, types};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::state::Event;
use crate::{Order, OrderStatus};

/// `order.placed` (v1): the order as committed by checkout, lines included.
pub fn placed(order: &Order) -> NewEvent {
    let lines: Vec<Value> = order
        .lines
        .iter()
        .map(|l| {
            json!({
                "line_no": l.line_no,
                "variant_id": l.variant_id,
                "product_id": l.product_id,
                "sku": l.sku,
                "name": l.name,
                "quantity": l.quantity,
                "unit_price": l.unit_price,
                "line_total": l.line_total,
                "discount": l.discount,
            })
        })
        .collect();
    NewEvent::new(
        types::ORDER_PLACED,
        order.id,
        json!({
            "order_id": order.id,
            "user_id": order.user_id,
            "status": order.status,
            "subtotal": order.subtotal,
            "shipping": order.shipping,
            "discount": order.discount,
            "tax": order.tax,
            "total": order.total,
            "promotions": order.promotions.iter().map(|p| json!({
                "promotion_id": p.promotion_id,
                "code": p.code,
                "amount": p.amount,
            })).collect::<Vec<_>>(),
            "shipping_method": order.shipping_method,
            "shipping_country": order.shipping_address.country,
            "lines": lines,
            "placed_at": order.created_at,
        }),
    )
}

/// The event of a transition that other services care about, if any: `order.paid`,
/// `order.shipped`, `order.delivered`, `order.cancelled` (with the reason: `cancelled`,
/// `expired` or `payment_failed`) and `order.refunded`.
pub fn transitioned(order: &Order, from: OrderStatus, event: Event) -> Option<NewEvent> {
    let base = |extra: Value| {
        let mut v = json!({
            "order_id": order.id,
            "user_id": order.user_id,
            "from_status": from,
            "status": order.status,
            "total": order.total,
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        v
    };
    let (kind, payload) = match order.status {
        OrderStatus::Paid => (types::ORDER_PAID, base(json!({ "paid_at": order.paid_at }))),
        OrderStatus::Shipped => (
            types::ORDER_SHIPPED,
            base(json!({
                "carrier": order.carrier,
                "tracking_number": order.tracking_number,
                "shipped_at": order.shipped_at,
            })),
        ),
        OrderStatus::Delivered => (types::ORDER_DELIVERED, base(json!({ "delivered_at": order.delivered_at }))),
        OrderStatus::Cancelled | OrderStatus::PaymentFailed => {
            let reason = match (order.status, event) {
                (OrderStatus::PaymentFailed, _) => "payment_failed",
                (_, Event::Expire) => "expired",
                _ => "cancelled",
            };
            (
                types::ORDER_CANCELLED,
                base(json!({
                    "reason": reason,
                    "cancelled_at": order.cancelled_at,
                    "refund_due": order.payment_id.is_some(),
                })),
            )
        }
        OrderStatus::Refunded => (types::ORDER_REFUNDED, base(json!({ "refunded_at": order.refunded_at }))),
        // Each shipment has its own event (`shipment_created`).
        OrderStatus::PendingPayment | OrderStatus::RequiresAction | OrderStatus::PartiallyShipped => return None,
    };
    Some(NewEvent::new(kind, order.id, payload))
}

/// `order.refund_settled` (v1): the provider answered a refund: `succeeded`, or `failed` (its
/// amount counts as not refunded again). `refunded` is the order's refunded sum after it.
pub fn refund_settled(order: &Order, refund: &crate::Refund) -> NewEvent {
    NewEvent::new(
        types::ORDER_REFUND_SETTLED,
        order.id,
        json!({
            "order_id": order.id,
            "user_id": order.user_id,
            "refund_id": refund.id,
            "status": refund.status,
            "amount": refund.amount,
            "lines": refund.lines,
            "shipping": refund.shipping,
            "refunded": order.refunded,
            "refund_state": order.refund_state,
            "total": order.total,
        }),
    )
}

fn shipment_payload(order: &Order, s: &crate::Shipment) -> Value {
    json!({
        "order_id": order.id,
        "user_id": order.user_id,
        "shipment_id": s.id,
        "number": s.number,
        "carrier": s.carrier,
        "tracking_number": s.tracking_number,
        "lines": s.lines.iter().map(|l| {
            let name = order.lines.iter().find(|o| o.line_no == l.line_no).map(|o| o.name.clone());
            json!({"line_no": l.line_no, "quantity": l.quantity, "name": name})
        }).collect::<Vec<_>>(),
        "status": order.status,
        "capture": s.capture,
        "capture_status": s.capture_status,
        "shipped_at": s.created_at,
        "delivered_at": s.delivered_at,
    })
}

/// `order.shipment_created` (v1): a parcel handed to a carrier (the customer is told, with its
/// lines and tracking number); `status` is the order's after it (`partially_shipped` or
/// `shipped`).
pub fn shipment_created(order: &Order, s: &crate::Shipment) -> NewEvent {
    NewEvent::new(types::ORDER_SHIPMENT_CREATED, order.id, shipment_payload(order, s))
}

/// `order.shipment_delivered` (v1): a parcel reached the customer.
pub fn shipment_delivered(order: &Order, s: &crate::Shipment) -> NewEvent {
    NewEvent::new(types::ORDER_SHIPMENT_DELIVERED, order.id, shipment_payload(order, s))
}

/// `order.capture_failed` (v1): the provider refused a shipment's capture; the order is flagged
/// for an admin (`capture_error` says why).
pub fn capture_failed(order: &Order, s: &crate::Shipment) -> NewEvent {
    let mut payload = shipment_payload(order, s);
    if let Value::Object(m) = &mut payload {
        m.insert("capture_error".into(), json!(s.capture_error));
        m.insert("captured".into(), json!(order.captured));
    }
    NewEvent::new(types::ORDER_CAPTURE_FAILED, order.id, payload)
}

/// `order.return_updated` (v1): a return was asked for or took a step (`status`).
pub fn return_updated(order: &Order, ret: &crate::Return) -> NewEvent {
    NewEvent::new(
        types::ORDER_RETURN_UPDATED,
        order.id,
        json!({
            "order_id": order.id,
            "user_id": order.user_id,
            "return_id": ret.id,
            "status": ret.status,
            "lines": ret.lines,
            "reason": ret.reason,
            "refund_id": ret.refund_id,
        }),
    )
}

/// `promotion.redeemed` (v1): checkout counted redemptions of promotions for an order; one event
/// per order, listing every promotion applied (none applied: no event).
pub fn redeemed(order: &Order) -> Option<NewEvent> {
    if order.promotions.is_empty() {
        return None;
    }
    let promotions: Vec<Value> = order
        .promotions
        .iter()
        .map(|p| json!({"promotion_id": p.promotion_id, "name": p.name, "code": p.code, "amount": p.amount}))
        .collect();
    Some(NewEvent::new(
        types::PROMOTION_REDEEMED,
        order.id,
        json!({
            "order_id": order.id,
            "user_id": order.user_id,
            "discount": order.discount,
            "promotions": promotions,
            "redeemed_at": order.created_at,
        }),
    ))
}

/// `inventory.low_stock` (v1): a sale took a variant's stock from above `threshold` to at or
/// below it.
pub fn low_stock(variant_id: Uuid, product_id: Uuid, sku: &str, stock: i32, threshold: i32) -> NewEvent {
    NewEvent::new(
        types::INVENTORY_LOW_STOCK,
        variant_id,
        json!({
            "variant_id": variant_id,
            "product_id": product_id,
            "sku": sku,
            "stock": stock,
            "threshold": threshold,
        }),
    )
}

/// Whether a sale of `sold` that left `stock_after` crossed the threshold (reported once per
/// crossing, not on every later sale).
pub fn crossed_low_stock(stock_after: i32, sold: i32, threshold: i32) -> bool {
    stock_after <= threshold && stock_after + sold > threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refund tests' paid order (total 42.84), in `status`, shipped with DHL as JD1.
    fn order(status: OrderStatus) -> Order {
        let order = crate::refund::tests_support::order();
        Order { status, carrier: Some("DHL".into()), tracking_number: Some("JD1".into()), ..order }
    }

    #[test]
    fn each_transition_names_its_event_and_cancellations_their_reason() {
        use OrderStatus::*;
        let cases = [
            (PendingPayment, Event::PaymentSucceeded, Paid, Some(("order.paid", None))),
            (Paid, Event::Ship, Shipped, Some(("order.shipped", None))),
            (PartiallyShipped, Event::Ship, Shipped, Some(("order.shipped", None))),
            (PartiallyShipped, Event::Cancel, Shipped, Some(("order.shipped", None))),
            (Shipped, Event::Deliver, Delivered, Some(("order.delivered", None))),
            (PendingPayment, Event::Cancel, Cancelled, Some(("order.cancelled", Some("cancelled")))),
            (PendingPayment, Event::Expire, Cancelled, Some(("order.cancelled", Some("expired")))),
            (PendingPayment, Event::PaymentFailed, PaymentFailed, Some(("order.cancelled", Some("payment_failed")))),
            (Paid, Event::Refund, Refunded, Some(("order.refunded", None))),
        ];
        for (from, event, to, want) in cases {
            let e = transitioned(&order(to), from, event);
            let got = e.as_ref().map(|e| (e.kind.name, e.payload.get("reason").and_then(Value::as_str)));
            assert_eq!(got, want, "{from:?} --{event:?}--> {to:?}");
            let e = e.expect("event");
            assert_eq!(e.payload["from_status"], json!(from));
            assert_eq!(e.payload["total"]["amount_minor"], 4284);
        }
        assert_eq!(transitioned(&order(PendingPayment), PendingPayment, Event::Cancel), None);
        // A part shipped: its shipment's own event says so.
        assert_eq!(transitioned(&order(PartiallyShipped), Paid, Event::ShipPart), None);
        let shipped = transitioned(&order(Shipped), Paid, Event::Ship).expect("event");
        assert_eq!(shipped.payload["tracking_number"], "JD1");
    }

    #[test]
    fn low_stock_is_reported_once_per_crossing() {
        assert!(crossed_low_stock(5, 1, 5));
        assert!(crossed_low_stock(0, 10, 5));
        assert!(!crossed_low_stock(4, 1, 5), "already below before this sale");
        assert!(!crossed_low_stock(6, 1, 5));
        assert!(!crossed_low_stock(3, 2, 0));
    }
}
