-- The pgbench replay of a checkout (checkout.sql): numbered shoppers (the seeded customers, each
-- with a cart) and numbered variants in stock, so a script can pick them with random().
-- Idempotent: rebuilt at every benchmark run.
DROP TABLE IF EXISTS pgb_shoppers, pgb_variants;
INSERT INTO carts (id, user_id, currency)
SELECT gen_random_uuid(), u.id, 'EUR' FROM users u
WHERE u.role = 'customer' AND NOT EXISTS (SELECT 1 FROM carts c WHERE c.user_id = u.id);
DELETE FROM cart_lines WHERE cart_id IN (SELECT c.id FROM carts c JOIN users u ON u.id = c.user_id WHERE u.role = 'customer');
UPDATE carts c SET currency = 'EUR', promotion_codes = '{}' FROM users u WHERE u.id = c.user_id AND u.role = 'customer';
CREATE TABLE pgb_shoppers AS
SELECT row_number() OVER (ORDER BY u.id)::int AS n, u.id AS user_id, c.id AS cart_id
FROM users u JOIN carts c ON c.user_id = u.id WHERE u.role = 'customer';
ALTER TABLE pgb_shoppers ADD PRIMARY KEY (n);
-- Plenty of stock (the replay takes one unit of three variants per checkout), written to the
-- ledger as an adjustment so every variant's ledger still sums to its stock.
WITH u AS (UPDATE variants SET stock = stock + 1000000 WHERE active AND stock < 100000 RETURNING id, stock)
INSERT INTO inventory_ledger (variant_id, delta, reason, stock_after) SELECT id, 1000000, 'adjustment', stock FROM u;
CREATE TABLE pgb_variants AS
SELECT row_number() OVER (ORDER BY v.id)::int AS n, v.id
FROM variants v JOIN products p ON p.id = v.product_id
WHERE v.active AND p.status = 'active' AND p.currency = 'EUR';
ALTER TABLE pgb_variants ADD PRIMARY KEY (n);
ANALYZE pgb_shoppers, pgb_variants;
