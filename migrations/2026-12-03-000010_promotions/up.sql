-- Promotions and customer groups (docs/promotions.md). The decision is `promotions::evaluate`;
-- these tables hold the promotions, who belongs to which group, and the redemptions.

CREATE TABLE customer_groups (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customer_group_members (
    group_id   uuid NOT NULL REFERENCES customer_groups (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX customer_group_members_user_idx ON customer_group_members (user_id);

CREATE TABLE promotions (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Normalised (promotions::normalise_code); NULL for an automatic promotion.
    code               text UNIQUE CHECK (code ~ '^[A-Z0-9_-]{3,32}$'),
    status             text NOT NULL CHECK (status IN ('draft', 'active', 'paused', 'archived')),
    starts_at          timestamptz,
    ends_at            timestamptz,
    priority           integer NOT NULL DEFAULT 0,
    combinable         boolean NOT NULL DEFAULT true,
    -- promotions::Conditions and promotions::Action as JSON (decoded strictly: an unknown shape
    -- is an error, never a default).
    conditions         jsonb NOT NULL DEFAULT '{}',
    action             jsonb NOT NULL,
    max_discount_minor bigint CHECK (max_discount_minor >= 0),
    usage_limit        bigint CHECK (usage_limit >= 0),
    per_customer_limit bigint CHECK (per_customer_limit >= 0),
    -- Live redemptions (placed and not released). The backstop of the total limit: checkout
    -- increments it under the row lock, and this check refuses a count past the limit.
    redemptions        bigint NOT NULL DEFAULT 0 CHECK (redemptions >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at),
    CHECK (usage_limit IS NULL OR redemptions <= usage_limit)
);
CREATE TRIGGER promotions_updated_at BEFORE UPDATE ON promotions FOR EACH ROW EXECUTE FUNCTION set_updated_at();
-- The automatic promotions every cart evaluates.
CREATE INDEX promotions_automatic_idx ON promotions (priority, id) WHERE code IS NULL AND status = 'active';

-- One row per promotion applied to an order: what it took off, and whether it still counts.
CREATE TABLE promotion_redemptions (
    promotion_id uuid NOT NULL REFERENCES promotions (id) ON DELETE RESTRICT,
    order_id     uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    released_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (promotion_id, order_id)
);
CREATE INDEX promotion_redemptions_customer_idx ON promotion_redemptions (promotion_id, user_id) WHERE released_at IS NULL;
CREATE INDEX promotion_redemptions_order_idx ON promotion_redemptions (order_id);
