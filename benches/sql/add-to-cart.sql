-- pgbench replay of one add to cart (`POST /api/v1/cart/lines` by a signed-in shopper): the
-- statements the API sends, in its transaction, traced from PostgreSQL's statement log
-- (docs/performance.md, "Checkout against its floor"). Run by benches/run.sh after
-- checkout-setup.sql with -D shoppers=N -D variants=N; each client is one shopper (client_id + 1)
-- whose cart holds at most three lines, as in the API's run (three lines, then a checkout).
-- The shopper's and the variant's ids are looked up by number inside the statements (an index
-- probe each, no extra round trip). Left out: the automatic promotions' read, which the API
-- makes once per `checkout.automatic_promotions_cache_ms` (2 s) per instance, not per request.
\set u :client_id + 1
\set v ((:client_id * 3 + random(0, 2)) % :variants) + 1
BEGIN;
INSERT INTO carts (id, user_id, token_hash) VALUES (gen_random_uuid(), (SELECT user_id FROM pgb_shoppers WHERE n = :u), NULL) ON CONFLICT DO NOTHING;
SELECT id FROM carts WHERE user_id = (SELECT user_id FROM pgb_shoppers WHERE n = :u) LIMIT 1 FOR UPDATE;
SELECT p.currency FROM variants v JOIN products p ON v.product_id = p.id WHERE v.id = (SELECT id FROM pgb_variants WHERE n = :v) LIMIT 1;
SELECT variant_id, quantity, currency FROM cart_lines WHERE cart_id = (SELECT cart_id FROM pgb_shoppers WHERE n = :u) ORDER BY added_at, variant_id;
UPDATE carts SET currency = 'EUR' WHERE id = (SELECT cart_id FROM pgb_shoppers WHERE n = :u);
INSERT INTO cart_lines (cart_id, variant_id, quantity, currency)
VALUES ((SELECT cart_id FROM pgb_shoppers WHERE n = :u), (SELECT id FROM pgb_variants WHERE n = :v), 1, 'EUR')
ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = excluded.quantity;
COMMIT;
-- The cart as answered: its lines priced, its codes.
SELECT cl.variant_id, cl.quantity, p.id, p.category_id, p.slug, p.name, v.sku, v.options, v.price_minor, p.currency, v.stock, v.active, p.status
FROM cart_lines cl JOIN variants v ON cl.variant_id = v.id JOIN products p ON v.product_id = p.id
WHERE cl.cart_id = (SELECT cart_id FROM pgb_shoppers WHERE n = :u) ORDER BY cl.added_at, cl.variant_id;
SELECT promotion_codes FROM carts WHERE id = (SELECT cart_id FROM pgb_shoppers WHERE n = :u) LIMIT 1;
