-- 3-D Secure (docs/orders.md): an order waits in `requires_action` while the customer
-- authenticates; stock stays reserved until it expires. A pending order may be paid again with
-- another card: each attempt has its own provider key.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('pending_payment', 'requires_action', 'paid', 'shipped', 'delivered',
                      'cancelled', 'refunded', 'payment_failed'));
ALTER TABLE orders
    ADD COLUMN payment_action jsonb,
    ADD COLUMN payment_attempts integer NOT NULL DEFAULT 1 CHECK (payment_attempts BETWEEN 1 AND 100);
DROP INDEX orders_pending_expiry_idx;
CREATE INDEX orders_pending_expiry_idx ON orders (expires_at) WHERE status IN ('pending_payment', 'requires_action');
