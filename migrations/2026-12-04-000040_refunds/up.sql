-- Refunds (docs/orders.md): several per order, each its own row with its own idempotency key to
-- the provider, never more in all than the order's total.

ALTER TABLE inventory_ledger
    DROP CONSTRAINT inventory_ledger_reason_check,
    ADD CONSTRAINT inventory_ledger_reason_check
        CHECK (reason IN ('initial', 'restock', 'adjustment', 'sale', 'cancellation', 'refund', 'return'));

-- What is refunded so far (pending and succeeded refunds; a failed one gives its part back).
ALTER TABLE orders
    ADD COLUMN refunded_minor bigint NOT NULL DEFAULT 0,
    ADD COLUMN shipping_refunded boolean NOT NULL DEFAULT false;
-- Per line: units refunded, and units back in stock (a cancellation restocks only the rest).
ALTER TABLE order_lines
    ADD COLUMN refunded_quantity integer NOT NULL DEFAULT 0,
    ADD COLUMN restocked_quantity integer NOT NULL DEFAULT 0;

CREATE TABLE refunds (
    id                 uuid PRIMARY KEY,
    order_id           uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    -- The admin's Idempotency-Key (a retry returns this refund), or `cancellation` / `full`.
    idempotency_key    text NOT NULL,
    request_hash       bytea NOT NULL,
    -- Sent to the provider with every attempt: a retried refund is never paid twice.
    provider_key       text NOT NULL UNIQUE,
    amount_minor       bigint NOT NULL CHECK (amount_minor > 0),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- [{line_no, quantity, restocked}]
    lines              jsonb NOT NULL DEFAULT '[]',
    shipping           boolean NOT NULL DEFAULT false,
    reason             text,
    status             text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_refund_id text,
    error              text,
    actor_id           uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    settled_at         timestamptz,
    CONSTRAINT refunds_key UNIQUE (order_id, idempotency_key),
    CONSTRAINT refunds_succeeded_has_id CHECK ((status = 'succeeded') = (provider_refund_id IS NOT NULL))
);
CREATE INDEX refunds_order_idx ON refunds (order_id, created_at);
CREATE INDEX refunds_pending_idx ON refunds (created_at) WHERE status = 'pending';

-- Orders refunded or cancelled after payment before this migration: one refund each, for the
-- total, under the provider key the old code used (a pending one is retried with it).
UPDATE order_lines l SET restocked_quantity = l.quantity
FROM orders o
WHERE o.id = l.order_id
  AND (o.status IN ('cancelled', 'payment_failed') OR (o.status = 'refunded' AND o.shipped_at IS NULL));
UPDATE order_lines l SET refunded_quantity = l.quantity
FROM orders o
WHERE o.id = l.order_id AND o.payment_id IS NOT NULL AND o.status IN ('cancelled', 'refunded');
UPDATE orders SET refunded_minor = total_minor, shipping_refunded = true
WHERE payment_id IS NOT NULL AND status IN ('cancelled', 'refunded') AND total_minor > 0;
INSERT INTO refunds (id, order_id, idempotency_key, request_hash, provider_key, amount_minor, currency, shipping,
                     status, provider_refund_id, error, created_at, settled_at)
SELECT gen_random_uuid(), id, 'legacy', '\x', 'refund-' || id, total_minor, currency, true,
       CASE WHEN refund_id IS NULL THEN 'pending' ELSE 'succeeded' END, refund_id, payment_error,
       coalesce(refunded_at, cancelled_at, updated_at),
       CASE WHEN refund_id IS NULL THEN NULL ELSE coalesce(refunded_at, cancelled_at, updated_at) END
FROM orders
WHERE payment_id IS NOT NULL AND status IN ('cancelled', 'refunded') AND total_minor > 0;

ALTER TABLE orders
    DROP COLUMN refund_id,
    ADD CONSTRAINT orders_refunded_within CHECK (refunded_minor BETWEEN 0 AND total_minor);
ALTER TABLE order_lines
    ADD CONSTRAINT order_lines_refunded_within CHECK (refunded_quantity BETWEEN 0 AND quantity),
    ADD CONSTRAINT order_lines_restocked_within CHECK (restocked_quantity BETWEEN 0 AND quantity);
