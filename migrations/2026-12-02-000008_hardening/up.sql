-- Cart invariants held by the database as well as by the code (crates/cart/src/rules.rs, applied
-- under the cart's row lock): one currency per cart, at most 100 lines.

-- The currency a cart is priced in (NULL until its first line), and each line's currency, which
-- must be its cart's: a line of another currency cannot be stored, and a cart's currency cannot
-- change while it holds lines.
ALTER TABLE carts ADD COLUMN currency text CHECK (currency ~ '^[A-Z]{3}$');
ALTER TABLE carts ADD CONSTRAINT carts_id_currency_key UNIQUE (id, currency);
ALTER TABLE cart_lines ADD COLUMN currency text;
UPDATE cart_lines cl SET currency = p.currency
FROM variants v JOIN products p ON p.id = v.product_id
WHERE v.id = cl.variant_id;
-- Carts that the old race left with two currencies keep the currency of their oldest line; the
-- other lines could not be checked out anyway.
UPDATE carts c SET currency = (
    SELECT cl.currency FROM cart_lines cl WHERE cl.cart_id = c.id ORDER BY cl.added_at, cl.variant_id LIMIT 1
);
DELETE FROM cart_lines cl USING carts c WHERE c.id = cl.cart_id AND cl.currency IS DISTINCT FROM c.currency;
ALTER TABLE cart_lines ALTER COLUMN currency SET NOT NULL;
ALTER TABLE cart_lines ADD CONSTRAINT cart_lines_cart_currency_fkey
    FOREIGN KEY (cart_id, currency) REFERENCES carts (id, currency) ON DELETE CASCADE;

-- The number of lines, kept by statement triggers, with the limit as a CHECK. Carts over the
-- limit (merges never checked it) keep their 100 oldest lines.
DELETE FROM cart_lines cl USING (
    SELECT cart_id, variant_id, row_number() OVER (PARTITION BY cart_id ORDER BY added_at, variant_id) AS n
    FROM cart_lines
) r
WHERE r.n > 100 AND cl.cart_id = r.cart_id AND cl.variant_id = r.variant_id;
ALTER TABLE carts ADD COLUMN line_count integer NOT NULL DEFAULT 0;
UPDATE carts c SET line_count = (SELECT count(*) FROM cart_lines cl WHERE cl.cart_id = c.id);
ALTER TABLE carts ADD CONSTRAINT carts_line_limit CHECK (line_count BETWEEN 0 AND 100);

CREATE FUNCTION cart_lines_added() RETURNS trigger AS $$
BEGIN
    UPDATE carts c SET line_count = c.line_count + n.k
    FROM (SELECT cart_id, count(*) AS k FROM added GROUP BY cart_id) n
    WHERE c.id = n.cart_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION cart_lines_removed() RETURNS trigger AS $$
BEGIN
    UPDATE carts c SET line_count = c.line_count - o.k
    FROM (SELECT cart_id, count(*) AS k FROM removed GROUP BY cart_id) o
    WHERE c.id = o.cart_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER cart_lines_count_added AFTER INSERT ON cart_lines
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION cart_lines_added();
CREATE TRIGGER cart_lines_count_removed AFTER DELETE ON cart_lines
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION cart_lines_removed();
-- Lines never move between carts (the count would go wrong).
CREATE FUNCTION cart_lines_stay() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'cart lines cannot move between carts';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER cart_lines_stay BEFORE UPDATE OF cart_id ON cart_lines
    FOR EACH ROW WHEN (OLD.cart_id IS DISTINCT FROM NEW.cart_id) EXECUTE FUNCTION cart_lines_stay();
