-- pgbench replay of one checkout of three lines: the statements the API sends for
-- `POST /api/v1/checkout` with an approving card, in its order and its transactions, traced
-- from PostgreSQL's statement log (docs/performance.md, "Checkout against its floor").
-- Run by benches/run.sh on the benchmark's database after checkout-setup.sql, with -D shoppers=N
-- -D variants=N; each client is one shopper (client_id + 1), so carts never contend, as in the
-- API run where every shopper has their own cart.
-- Not part of a checkout, and so extra work the API's checkout does not do: the first statement
-- (looking the shopper and three variants up by number) and the second (filling the cart with
-- the three lines, which the API's run does by three add-to-cart requests before it checks out).
-- Left out: the outbox dispatcher's claims and settles of the two events (measured apart).
\set u :client_id + 1
\set third :variants / 3
\set a random(1, :third)
\set b :a + :third
\set c :b + :third
\set k random(1, 2000000000)
SELECT s.user_id, s.cart_id, va.id AS va, vb.id AS vb, vc.id AS vc,
       (SELECT id FROM shipping_methods WHERE active ORDER BY id LIMIT 1) AS sm
FROM pgb_shoppers s, pgb_variants va, pgb_variants vb, pgb_variants vc
WHERE s.n = :u AND va.n = :a AND vb.n = :b AND vc.n = :c \gset
INSERT INTO cart_lines (cart_id, variant_id, quantity, currency) VALUES (:cart_id, :va, 1, 'EUR'), (:cart_id, :vb, 1, 'EUR'), (:cart_id, :vc, 1, 'EUR');
-- The checkout: claim the key, read the shipping method.
INSERT INTO idempotency_keys (user_id, key, request_hash, expires_at)
VALUES (:user_id, 'pgb-' || :client_id || '-' || :k, '\x4e6613600f63ad12837ff77058403a18d54484ccb593f541e54a380c3e61c0cf', now() + interval '1 day')
ON CONFLICT DO NOTHING;
SELECT id, name, price_minor, currency, countries, active FROM shipping_methods WHERE id = :sm LIMIT 1;
-- The order's transaction: lock the cart and its variants, price, write the order.
BEGIN;
SELECT c.id, c.promotion_codes FROM carts c, pg_advisory_xact_lock_shared(6001133709834735437) WHERE c.user_id = :user_id FOR UPDATE OF c;
SELECT cl.variant_id, cl.quantity, p.id AS product_id, p.category_id, p.slug, p.name, v.sku, v.options, v.price_minor,
       p.currency, v.stock, v.active AS variant_active, p.status AS product_status
FROM cart_lines cl JOIN variants v ON v.id = cl.variant_id JOIN products p ON p.id = v.product_id
WHERE cl.cart_id = :cart_id ORDER BY v.id FOR UPDATE OF v;
SELECT id, name, code, status, starts_at, ends_at, priority, combinable, conditions, action, max_discount_minor,
       usage_limit, per_customer_limit
FROM promotions WHERE (code IS NULL AND status = 'active') OR code = ANY('{}'::text[]) ORDER BY priority, id;
INSERT INTO orders (id, user_id, status, currency, subtotal_minor, shipping_minor, discount_minor, promotions, tax_minor,
                    total_minor, shipping_address, shipping_method_id, shipping_method, expires_at, capture_mode)
VALUES (gen_random_uuid(), :user_id, 'pending_payment', 'EUR', 2208, 490, 0, '[]', 0, 2698,
        '{"city": "Berlin", "label": null, "line1": "1 Main Street", "line2": null, "phone": null, "region": null, "country": "DE", "full_name": "Ada Lovelace", "postal_code": "10115", "is_default_billing": false, "is_default_shipping": false}',
        :sm, 'Standard', now() + interval '15 minutes', 'automatic')
RETURNING id AS oid \gset
WITH d AS (SELECT * FROM unnest(ARRAY[:va, :vb, :vc]::uuid[], '{1,1,1}'::int[]) AS d(id, q)),
     u AS (UPDATE variants v SET stock = v.stock - d.q FROM d WHERE v.id = d.id RETURNING v.id, v.stock, d.q)
INSERT INTO inventory_ledger (variant_id, delta, reason, stock_after, actor_id, order_id)
SELECT u.id, -u.q, 'sale', u.stock, :user_id, :oid FROM u;
INSERT INTO order_lines (order_id, line_no, variant_id, product_id, sku, name, options, unit_price_minor, quantity,
                         line_total_minor, discount_minor)
SELECT :oid, l.n, v.id, v.product_id, v.sku, 'Modern Cotton Shirt', v.options, v.price_minor, 1, v.price_minor, 0
FROM unnest(ARRAY[:va, :vb, :vc]::uuid[]) WITH ORDINALITY AS l(id, n) JOIN variants v ON v.id = l.id;
INSERT INTO order_events (order_id, to_status, actor_id) VALUES (:oid, 'pending_payment', :user_id);
DELETE FROM cart_lines WHERE cart_id = :cart_id;
UPDATE idempotency_keys SET order_id = :oid WHERE user_id = :user_id AND key = 'pgb-' || :client_id || '-' || :k;
SELECT * FROM orders WHERE id = :oid LIMIT 1;
SELECT * FROM order_lines WHERE order_id = ANY(ARRAY[:oid]::uuid[]) ORDER BY order_id, line_no;
INSERT INTO outbox (id, event_type, schema_version, aggregate_type, aggregate_id, payload, occurred_at)
VALUES (gen_random_uuid(), 'order.placed', 1, 'order', :oid,
        ('{"tax": {"currency": "EUR", "amount_minor": 0}, "total": {"currency": "EUR", "amount_minor": 2698}, "status": "pending_payment", "user_id": "' || :user_id || '", "order_id": "' || :oid || '", "discount": {"currency": "EUR", "amount_minor": 0}, "shipping": {"currency": "EUR", "amount_minor": 490}, "subtotal": {"currency": "EUR", "amount_minor": 2208}, "placed_at": "2026-12-04T20:32:27Z", "promotions": [], "shipping_method": "Standard", "shipping_country": "DE", "lines": [{"sku": "SKU-1-L", "name": "Modern Cotton Shirt", "line_no": 1, "discount": {"currency": "EUR", "amount_minor": 0}, "quantity": 1, "line_total": {"currency": "EUR", "amount_minor": 936}, "unit_price": {"currency": "EUR", "amount_minor": 936}, "product_id": null, "variant_id": null}, {"sku": "SKU-2-M", "name": "Modern Cotton Shirt", "line_no": 2, "discount": {"currency": "EUR", "amount_minor": 0}, "quantity": 1, "line_total": {"currency": "EUR", "amount_minor": 636}, "unit_price": {"currency": "EUR", "amount_minor": 636}, "product_id": null, "variant_id": null}, {"sku": "SKU-3-S", "name": "Modern Cotton Shirt", "line_no": 3, "discount": {"currency": "EUR", "amount_minor": 0}, "quantity": 1, "line_total": {"currency": "EUR", "amount_minor": 636}, "unit_price": {"currency": "EUR", "amount_minor": 636}, "product_id": null, "variant_id": null}]}')::jsonb,
        now());
COMMIT;
-- The card approved (the sandbox answers in process): the paid transition.
BEGIN;
SELECT status, user_id, payment_id, capture_mode, total_minor FROM orders WHERE id = :oid LIMIT 1 FOR UPDATE;
UPDATE orders SET status = 'paid', paid_at = now(), payment_id = 'pi_sandbox_' || replace(gen_random_uuid()::text, '-', ''), captured_minor = total_minor WHERE id = :oid;
INSERT INTO order_events (order_id, from_status, to_status, actor_id, note) VALUES (:oid, 'pending_payment', 'paid', NULL, NULL);
SELECT * FROM orders WHERE id = :oid LIMIT 1;
SELECT * FROM order_lines WHERE order_id = ANY(ARRAY[:oid]::uuid[]) ORDER BY order_id, line_no;
INSERT INTO outbox (id, event_type, schema_version, aggregate_type, aggregate_id, payload, occurred_at)
VALUES (gen_random_uuid(), 'order.paid', 1, 'order', :oid,
        ('{"total": {"currency": "EUR", "amount_minor": 2698}, "status": "paid", "paid_at": "2026-12-04T20:32:27Z", "user_id": "' || :user_id || '", "order_id": "' || :oid || '", "from_status": "pending_payment"}')::jsonb,
        now());
COMMIT;
-- The outcome recorded with the key (the order as answered, about 2 KB).
UPDATE idempotency_keys SET outcome = jsonb_build_object('kind', 'placed', 'order', (SELECT to_jsonb(o) FROM orders o WHERE o.id = :oid))
WHERE user_id = :user_id AND key = 'pgb-' || :client_id || '-' || :k;
