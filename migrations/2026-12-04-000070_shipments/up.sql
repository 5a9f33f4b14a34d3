-- Shipments and capture at shipment (docs/orders.md): an order ships in one or more shipments
-- of chosen units (`partially_shipped` until every unit has shipped or the rest is cancelled);
-- with `payments.capture = on_shipment` it is authorised at checkout and each shipment captures
-- the value of its units. Refunds never pass what was captured.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('pending_payment', 'requires_action', 'paid', 'partially_shipped', 'shipped', 'delivered',
                      'cancelled', 'refunded', 'payment_failed'));

ALTER TABLE orders
    ADD COLUMN capture_mode text NOT NULL DEFAULT 'automatic' CHECK (capture_mode IN ('automatic', 'on_shipment')),
    ADD COLUMN captured_minor bigint NOT NULL DEFAULT 0,
    -- A shipment's capture the provider refused: the order waits for an admin.
    ADD COLUMN capture_failed boolean NOT NULL DEFAULT false;
-- Orders paid before this migration were charged at checkout.
UPDATE orders SET captured_minor = total_minor WHERE paid_at IS NOT NULL OR refunded_minor > 0;
ALTER TABLE orders
    DROP CONSTRAINT orders_refunded_within,
    ADD CONSTRAINT orders_captured_within CHECK (captured_minor BETWEEN 0 AND total_minor),
    ADD CONSTRAINT orders_refunded_within CHECK (refunded_minor BETWEEN 0 AND captured_minor);
CREATE INDEX orders_capture_failed_idx ON orders (created_at DESC, id DESC) WHERE capture_failed;

ALTER TABLE order_lines ADD COLUMN shipped_quantity integer NOT NULL DEFAULT 0;
UPDATE order_lines l SET shipped_quantity = l.quantity
FROM orders o
WHERE o.id = l.order_id AND o.shipped_at IS NOT NULL;
ALTER TABLE order_lines
    ADD CONSTRAINT order_lines_shipped_within CHECK (shipped_quantity BETWEEN 0 AND quantity);

CREATE TABLE shipments (
    id              uuid PRIMARY KEY,
    order_id        uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    -- 1, 2, ... per order.
    number          integer NOT NULL CHECK (number BETWEEN 1 AND 1000),
    -- The admin's Idempotency-Key, when given: a retry returns this shipment.
    idempotency_key text,
    request_hash    bytea,
    carrier         text NOT NULL,
    tracking_number text NOT NULL,
    -- [{line_no, quantity}]
    lines           jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'shipped' CHECK (status IN ('shipped', 'delivered')),
    -- What this shipment captures (0 when the order was charged at checkout).
    capture_minor   bigint NOT NULL CHECK (capture_minor >= 0),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- The last capture of the order: the provider releases whatever is not captured.
    final_capture   boolean NOT NULL DEFAULT false,
    capture_status  text NOT NULL CHECK (capture_status IN ('not_needed', 'pending', 'captured', 'failed')),
    capture_error   text,
    actor_id        uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    captured_at     timestamptz,
    delivered_at    timestamptz,
    CONSTRAINT shipments_number UNIQUE (order_id, number),
    CONSTRAINT shipments_key UNIQUE (order_id, idempotency_key),
    CONSTRAINT shipments_delivered_at CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
    CONSTRAINT shipments_capture_amount CHECK ((capture_status = 'not_needed') = (capture_minor = 0))
);
CREATE INDEX shipments_pending_capture_idx ON shipments (created_at) WHERE capture_status = 'pending';

-- Shipments of orders shipped before this migration: one each, of every unit.
INSERT INTO shipments (id, order_id, number, carrier, tracking_number, lines, status, capture_minor, currency,
                       final_capture, capture_status, created_at, delivered_at)
SELECT gen_random_uuid(), o.id, 1, coalesce(o.carrier, 'unknown'), coalesce(o.tracking_number, 'unknown'),
       (SELECT coalesce(jsonb_agg(jsonb_build_object('line_no', l.line_no, 'quantity', l.quantity) ORDER BY l.line_no), '[]')
        FROM order_lines l WHERE l.order_id = o.id),
       CASE WHEN o.delivered_at IS NULL THEN 'shipped' ELSE 'delivered' END, 0, o.currency, true, 'not_needed',
       o.shipped_at, o.delivered_at
FROM orders o
WHERE o.shipped_at IS NOT NULL;
