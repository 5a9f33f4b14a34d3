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
            "tax": order.tax,
            "total": order.total,
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
        OrderStatus::PendingPayment => return None,
    };
    Some(NewEvent::new(kind, order.id, payload))
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

    #[test]
    fn low_stock_is_reported_once_per_crossing() {
        assert!(crossed_low_stock(5, 1, 5));
        assert!(crossed_low_stock(0, 10, 5));
        assert!(!crossed_low_stock(4, 1, 5), "already below before this sale");
        assert!(!crossed_low_stock(6, 1, 5));
        assert!(!crossed_low_stock(3, 2, 0));
    }
}
