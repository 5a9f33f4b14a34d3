CREATE TABLE reviews (
    id            uuid PRIMARY KEY,
    product_id    uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating        smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title         text NOT NULL,
    body          text NOT NULL,
    hidden_at     timestamptz,
    hidden_reason text,
    hidden_by     uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- One review per user per product.
CREATE UNIQUE INDEX reviews_one_per_user ON reviews (product_id, user_id);
CREATE INDEX reviews_newest_idx ON reviews (product_id, created_at DESC, id DESC) WHERE hidden_at IS NULL;
CREATE INDEX reviews_rating_idx ON reviews (product_id, rating, created_at DESC, id DESC) WHERE hidden_at IS NULL;
CREATE INDEX reviews_user_idx ON reviews (user_id);
CREATE TRIGGER reviews_updated_at BEFORE UPDATE ON reviews FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The catalog sorts by rating: the same expression as the listing query.
CREATE INDEX products_rating_idx ON products (
    (CASE WHEN rating_count > 0 THEN rating_sum::float8 / rating_count ELSE 0 END) DESC, rating_count DESC, id DESC
) WHERE status = 'active';
