CREATE TABLE categories (
    id          uuid PRIMARY KEY,
    parent_id   uuid REFERENCES categories (id) ON DELETE RESTRICT,
    slug        text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    position    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_not_own_parent CHECK (parent_id IS DISTINCT FROM id)
);
CREATE UNIQUE INDEX categories_slug_key ON categories (slug);
CREATE INDEX categories_parent_idx ON categories (parent_id, position);
CREATE TRIGGER categories_updated_at BEFORE UPDATE ON categories FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE products (
    id           uuid PRIMARY KEY,
    slug         text NOT NULL,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'archived')),
    category_id  uuid REFERENCES categories (id) ON DELETE RESTRICT,
    brand        text,
    attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,
    images       text[] NOT NULL DEFAULT '{}',
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Lowest and highest active variant price, kept by the variants trigger below; the listing
    -- filters and sorts on them without touching variants.
    min_price    bigint NOT NULL DEFAULT 0,
    max_price    bigint NOT NULL DEFAULT 0,
    -- Review aggregates (kept in the review transactions).
    rating_count integer NOT NULL DEFAULT 0 CHECK (rating_count >= 0),
    rating_sum   integer NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
    search       tsvector GENERATED ALWAYS AS (
                     setweight(to_tsvector('english', coalesce(name, '')), 'A') ||
                     setweight(to_tsvector('english', coalesce(brand, '')), 'B') ||
                     setweight(to_tsvector('english', coalesce(description, '')), 'C')
                 ) STORED,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX products_slug_key ON products (slug);
CREATE INDEX products_search_idx ON products USING gin (search);
CREATE INDEX products_name_trgm_idx ON products USING gin (lower(name) gin_trgm_ops);
CREATE INDEX products_newest_idx ON products (created_at DESC, id DESC) WHERE status = 'active';
CREATE INDEX products_price_idx ON products (min_price, id) WHERE status = 'active';
CREATE INDEX products_category_newest_idx ON products (category_id, created_at DESC, id DESC) WHERE status = 'active';
CREATE INDEX products_category_price_idx ON products (category_id, min_price, id) WHERE status = 'active';
CREATE INDEX products_brand_idx ON products (brand, created_at DESC, id DESC) WHERE status = 'active';
CREATE TRIGGER products_updated_at BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE variants (
    id               uuid PRIMARY KEY,
    product_id       uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku              text NOT NULL,
    options          jsonb NOT NULL DEFAULT '{}'::jsonb,
    price_minor      bigint NOT NULL CHECK (price_minor >= 0),
    compare_at_minor bigint CHECK (compare_at_minor >= 0),
    -- Stock can never go negative, whatever the code does.
    stock            integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
    active           boolean NOT NULL DEFAULT true,
    position         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX variants_sku_key ON variants (sku);
CREATE INDEX variants_product_idx ON variants (product_id, position);
CREATE INDEX variants_in_stock_idx ON variants (product_id) WHERE stock > 0 AND active;
CREATE TRIGGER variants_updated_at BEFORE UPDATE ON variants FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Keeps products.min_price/max_price equal to the active variants' prices. Fires on price and
-- activity changes only, never on stock changes (the checkout hot path).
CREATE OR REPLACE FUNCTION refresh_product_prices() RETURNS trigger AS $$
DECLARE pid uuid;
BEGIN
    pid := COALESCE(NEW.product_id, OLD.product_id);
    UPDATE products p SET
        min_price = COALESCE((SELECT min(price_minor) FROM variants WHERE product_id = pid AND active), 0),
        max_price = COALESCE((SELECT max(price_minor) FROM variants WHERE product_id = pid AND active), 0)
    WHERE p.id = pid;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER variants_prices AFTER INSERT OR DELETE OR UPDATE OF price_minor, active ON variants
    FOR EACH ROW EXECUTE FUNCTION refresh_product_prices();

-- Every stock change, written in the same transaction as the change itself.
CREATE TABLE inventory_ledger (
    id          bigserial PRIMARY KEY,
    variant_id  uuid NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    delta       integer NOT NULL CHECK (delta <> 0),
    reason      text NOT NULL CHECK (reason IN ('initial', 'restock', 'adjustment', 'sale', 'cancellation')),
    stock_after integer NOT NULL CHECK (stock_after >= 0),
    actor_id    uuid,
    order_id    uuid,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_ledger_variant_idx ON inventory_ledger (variant_id, id);
