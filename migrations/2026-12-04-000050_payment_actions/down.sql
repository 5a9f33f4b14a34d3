UPDATE orders SET status = 'pending_payment' WHERE status = 'requires_action';
DROP INDEX orders_pending_expiry_idx;
CREATE INDEX orders_pending_expiry_idx ON orders (expires_at) WHERE status = 'pending_payment';
ALTER TABLE orders DROP COLUMN payment_action, DROP COLUMN payment_attempts;
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('pending_payment', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded', 'payment_failed'));
