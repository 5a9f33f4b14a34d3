-- pgbench replay of one add to cart (`POST /api/v1/cart/lines` by a signed-in shopper): the
-- statements the API sends, in its transaction, traced from PostgreSQL's statement log
-- (docs/performance.md, "Checkout against its floor"). Run by benches/run.sh after
-- checkout-setup.sql with -D shoppers=N -D variants=N; each client is one shopper (client_id + 1)
-- whose cart holds at most three lines, as in the API's run (three lines, then a checkout).
-- The shopper's and the variant's ids are looked up by number inside the statements (an index
-- probe each, no extra round trip). Left out: the automatic promotions' read, which the API
-- makes once per `checkout.automatic_promotions_cache_ms` (2 s) per instance, not per request.
-- The answer (the cart's lines and codes) is what the transaction read and wrote: no read after
-- it. The cart's currency is written only when it changes (never here: the carts are in EUR).
\set u :client_id + 1
\set v ((:client_id * 3 + random(0, 2)) % :variants) + 1
BEGIN;
SELECT id, currency, promotion_codes FROM carts WHERE user_id = (SELECT user_id FROM pgb_shoppers WHERE n = :u) LIMIT 1 FOR UPDATE;
SELECT v.id AS variant_id, COALESCE(cl.quantity, 0) AS quantity, COALESCE(cl.currency, p.currency) AS line_currency,
       p.id AS product_id, p.category_id, p.slug, p.name, v.sku, v.options, v.price_minor, p.currency, v.stock,
       v.active AS variant_active, p.status AS product_status
FROM variants v JOIN products p ON p.id = v.product_id
LEFT JOIN cart_lines cl ON cl.cart_id = (SELECT cart_id FROM pgb_shoppers WHERE n = :u) AND cl.variant_id = v.id
WHERE v.id = ANY(ARRAY(SELECT variant_id FROM cart_lines WHERE cart_id = (SELECT cart_id FROM pgb_shoppers WHERE n = :u))
                 || (SELECT id FROM pgb_variants WHERE n = :v))
ORDER BY cl.added_at NULLS LAST, v.id;
INSERT INTO cart_lines (cart_id, variant_id, quantity, currency, added_at)
VALUES ((SELECT cart_id FROM pgb_shoppers WHERE n = :u), (SELECT id FROM pgb_variants WHERE n = :v), 1, 'EUR', clock_timestamp())
ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = excluded.quantity;
COMMIT;
