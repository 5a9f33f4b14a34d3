-- The catalog's change feed: every instance's search index follows it (crates/search). A row
-- names a product whose listing may have changed (NULL: every index rebuilds from the catalog).
-- `xid` is the writing transaction: a reader asks again from the oldest transaction still
-- running when it last read (pg_snapshot_xmin), so a change that commits late is never missed.
CREATE TABLE catalog_changes (
    seq        bigserial PRIMARY KEY,
    xid        bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    product_id uuid,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX catalog_changes_xid_idx ON catalog_changes (xid);
CREATE INDEX catalog_changes_at_idx ON catalog_changes (at);

CREATE FUNCTION catalog_product_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO catalog_changes (product_id) VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- Any change of a product row: name, text, status, category, brand, prices (kept by the
-- variants_prices trigger), ratings.
CREATE TRIGGER products_feed AFTER INSERT OR UPDATE OR DELETE ON products
    FOR EACH ROW EXECUTE FUNCTION catalog_product_changed();

CREATE FUNCTION catalog_variant_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO catalog_changes (product_id) VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.product_id ELSE NEW.product_id END);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- Whether a product is in stock: variants added or removed, and a variant's stock or activity
-- crossing zero. Sales that leave stock above zero write nothing (the checkout's hot path).
CREATE TRIGGER variants_feed_rows AFTER INSERT OR DELETE ON variants
    FOR EACH ROW EXECUTE FUNCTION catalog_variant_changed();
CREATE TRIGGER variants_feed_stock AFTER UPDATE OF stock, active ON variants
    FOR EACH ROW WHEN ((OLD.stock > 0 AND OLD.active) IS DISTINCT FROM (NEW.stock > 0 AND NEW.active))
    EXECUTE FUNCTION catalog_variant_changed();
