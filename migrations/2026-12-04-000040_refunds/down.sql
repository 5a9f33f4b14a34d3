ALTER TABLE orders ADD COLUMN refund_id text;
UPDATE orders o SET refund_id = r.provider_refund_id
FROM refunds r WHERE r.order_id = o.id AND r.status = 'succeeded';
DROP TABLE refunds;
ALTER TABLE order_lines
    DROP CONSTRAINT order_lines_refunded_within,
    DROP CONSTRAINT order_lines_restocked_within,
    DROP COLUMN refunded_quantity,
    DROP COLUMN restocked_quantity;
ALTER TABLE orders
    DROP CONSTRAINT orders_refunded_within,
    DROP COLUMN refunded_minor,
    DROP COLUMN shipping_refunded;
UPDATE inventory_ledger SET reason = 'restock' WHERE reason IN ('refund', 'return');
ALTER TABLE inventory_ledger
    DROP CONSTRAINT inventory_ledger_reason_check,
    ADD CONSTRAINT inventory_ledger_reason_check
        CHECK (reason IN ('initial', 'restock', 'adjustment', 'sale', 'cancellation'));
