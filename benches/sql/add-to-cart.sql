-- pgbench replay of one add to cart (`POST /api/v1/cart/lines` by a signed-in shopper): the
-- statements the API sends, in its transaction, traced from PostgreSQL's statement log
-- (docs/performance.md, "Checkout against its floor"). Run by benches/run.sh after
-- checkout-setup.sql with -D shoppers=N -D variants=N; each client is one shopper (client_id + 1)
-- whose cart holds at most three lines, as in the API's run (three lines, then a checkout).
-- The shopper's and the variant's ids are looked up by number inside the statements (an index
-- probe each, no extra round trip). Left out: the automatic promotions' read, which the API
-- makes once per `checkout.automatic_promotions_cache_ms` (2 s) per instance, not per request.
-- The answer (the cart's lines and codes) is what the transaction read and wrote: no read after
-- it. The variant's read is skipped by the API when the cart holds it already (kept here: an
-- upper bound). The cart's currency is written only when it changes (never here: EUR carts).
\set u :client_id + 1
\set v ((:client_id * 3 + random(0, 2)) % :variants) + 1
BEGIN;
SELECT id, currency, promotion_codes FROM carts WHERE user_id = (SELECT user_id FROM pgb_shoppers WHERE n = :u) LIMIT 1 FOR UPDATE;
SELECT cl.variant_id, cl.quantity, cl.currency, p.id, p.category_id, p.slug, p.name, v.sku, v.options, v.price_minor,
       p.currency, v.stock, v.active, p.status
FROM cart_lines cl JOIN variants v ON cl.variant_id = v.id JOIN products p ON v.product_id = p.id
WHERE cl.cart_id = (SELECT cart_id FROM pgb_shoppers WHERE n = :u) ORDER BY cl.added_at, cl.variant_id;
SELECT p.id, p.category_id, p.slug, p.name, v.sku, v.options, v.price_minor, p.currency, v.stock, v.active, p.status
FROM variants v JOIN products p ON v.product_id = p.id WHERE v.id = (SELECT id FROM pgb_variants WHERE n = :v) LIMIT 1;
INSERT INTO cart_lines (cart_id, variant_id, quantity, currency, added_at)
VALUES ((SELECT cart_id FROM pgb_shoppers WHERE n = :u), (SELECT id FROM pgb_variants WHERE n = :v), 1, 'EUR', clock_timestamp())
ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = excluded.quantity;
COMMIT;
