DROP TABLE shipments;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_shipped_within, DROP COLUMN shipped_quantity;
DROP INDEX orders_capture_failed_idx;
ALTER TABLE orders
    DROP CONSTRAINT orders_refunded_within,
    DROP CONSTRAINT orders_captured_within,
    DROP COLUMN capture_failed,
    DROP COLUMN captured_minor,
    DROP COLUMN capture_mode;
ALTER TABLE orders ADD CONSTRAINT orders_refunded_within CHECK (refunded_minor BETWEEN 0 AND total_minor);
UPDATE orders SET status = 'shipped' WHERE status = 'partially_shipped';
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('pending_payment', 'requires_action', 'paid', 'shipped', 'delivered',
                      'cancelled', 'refunded', 'payment_failed'));
