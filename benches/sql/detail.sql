-- pgbench baseline for GET /api/v1/products/{id} with the cache off: the two statements that
-- `load_product` (crates/persistence/src/catalog.rs) sends, as diesel renders them, for one
-- random seeded product per transaction. Run by benches/run.sh with -D products=<seeded count>
-- and -M prepared (diesel caches these prepared statements per connection). Keep in step with
-- load_product.
\set i random(1, :products)
SELECT products.id, products.slug, products.name, products.description, products.status, products.brand,
       products.attributes, products.images, products.currency, products.rating_count, products.rating_sum,
       products.version, products.created_at, products.updated_at,
       categories.id, categories.slug, categories.name
  FROM (products LEFT OUTER JOIN categories ON products.category_id = categories.id)
 WHERE products.id = md5('seed-product-' || :i)::uuid
 LIMIT 1;
SELECT variants.id, variants.sku, variants.options, variants.price_minor, variants.compare_at_minor,
       variants.stock, variants.active, variants.position
  FROM variants
 WHERE variants.product_id = md5('seed-product-' || :i)::uuid
 ORDER BY variants.position, variants.sku;
