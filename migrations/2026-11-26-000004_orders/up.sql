-- Carts: one per signed-in user, or a guest cart found by the hash of its token.
CREATE TABLE carts (
    id          uuid PRIMARY KEY,
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT carts_one_owner CHECK ((user_id IS NULL) <> (token_hash IS NULL))
);
CREATE UNIQUE INDEX carts_user_key ON carts (user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX carts_token_key ON carts (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX carts_guest_age_idx ON carts (updated_at) WHERE user_id IS NULL;
CREATE TRIGGER carts_updated_at BEFORE UPDATE ON carts FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE cart_lines (
    cart_id    uuid NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    variant_id uuid NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cart_id, variant_id)
);

CREATE TABLE shipping_methods (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    countries   text[] NOT NULL DEFAULT '{}',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER shipping_methods_updated_at BEFORE UPDATE ON shipping_methods FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE orders (
    id                 uuid PRIMARY KEY,
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    status             text NOT NULL CHECK (status IN ('pending_payment', 'paid', 'shipped', 'delivered',
                                                       'cancelled', 'refunded', 'payment_failed')),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal_minor     bigint NOT NULL CHECK (subtotal_minor >= 0),
    shipping_minor     bigint NOT NULL CHECK (shipping_minor >= 0),
    tax_minor          bigint NOT NULL CHECK (tax_minor >= 0),
    total_minor        bigint NOT NULL CHECK (total_minor = subtotal_minor + shipping_minor + tax_minor),
    shipping_address   jsonb NOT NULL,
    shipping_method_id uuid REFERENCES shipping_methods (id) ON DELETE SET NULL,
    shipping_method    text NOT NULL,
    payment_id         text,
    refund_id          text,
    payment_error      text,
    carrier            text,
    tracking_number    text,
    expires_at         timestamptz NOT NULL,
    paid_at            timestamptz,
    shipped_at         timestamptz,
    delivered_at       timestamptz,
    cancelled_at       timestamptz,
    refunded_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_idx ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_created_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_status_idx ON orders (status, created_at DESC, id DESC);
CREATE INDEX orders_pending_expiry_idx ON orders (expires_at) WHERE status = 'pending_payment';
CREATE UNIQUE INDEX orders_payment_key ON orders (payment_id) WHERE payment_id IS NOT NULL;
CREATE TRIGGER orders_updated_at BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Line snapshots: what was bought at what price, whatever happens to the catalog later.
CREATE TABLE order_lines (
    order_id         uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no          integer NOT NULL,
    variant_id       uuid REFERENCES variants (id) ON DELETE SET NULL,
    product_id       uuid,
    sku              text NOT NULL,
    name             text NOT NULL,
    options          jsonb NOT NULL DEFAULT '{}'::jsonb,
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    quantity         integer NOT NULL CHECK (quantity > 0),
    line_total_minor bigint NOT NULL CHECK (line_total_minor = unit_price_minor * quantity),
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_lines_product_idx ON order_lines (product_id);

-- Status history.
CREATE TABLE order_events (
    id          bigserial PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status text,
    to_status   text NOT NULL,
    actor_id    uuid,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

-- Idempotency keys (Stripe's model): the first request with a key does the work, later ones
-- with the same request get the stored outcome.
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    order_id     uuid,
    outcome      jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

-- Payment webhook events already processed (each event is applied once).
CREATE TABLE payment_events (
    event_id    text PRIMARY KEY,
    type        text NOT NULL,
    order_id    uuid,
    received_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE inventory_ledger
    ADD CONSTRAINT inventory_ledger_order_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE SET NULL;
CREATE INDEX inventory_ledger_order_idx ON inventory_ledger (order_id) WHERE order_id IS NOT NULL;
