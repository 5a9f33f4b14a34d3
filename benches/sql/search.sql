-- pgbench baseline for GET /api/v1/products?q=<term> (first page, default sort `relevance`):
-- the listing statements that `PgCatalogRepo::list` (crates/persistence/src/catalog.rs) builds
-- for a search text, LIMIT 25 (the API asks for limit + 1 to know whether a next page exists).
-- As in `CatalogService::list`: full text first; only when it finds nothing (a typo), names by
-- trigram word similarity. Facets are not included: the API serves them from its cache after
-- the first request of each search.
-- The terms are the ones benches/run.sh sends to the API (SEARCH_TERMS there; keep both lists
-- and the random() bound in step). Needs pg_trgm.word_similarity_threshold = 0.4, as every API
-- connection sets; run.sh passes it in PGOPTIONS, and runs this with -M extended (diesel never
-- caches these statements: they are parsed and planned on every execution). Keep in step with
-- catalog.rs.
\set t random(1, 8)
\set found 0
SELECT p.id, p.slug, p.name, p.brand, p.category_id, p.images[1] AS image, p.currency,
       p.min_price, p.max_price,
       EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.stock > 0 AND v.active) AS in_stock,
       p.rating_count, p.rating_sum, p.created_at,
       ts_rank_cd(p.search, websearch_to_tsquery('english', s.q))::float8 AS rank,
       1 AS found
  FROM products p,
       (SELECT (ARRAY['cotton', 'jaket', 'leathr', 'oak lamp', 'kettel', 'wool scarf', 'headphones',
                      'ceramic mug'])[:t] AS q) s
 WHERE p.status = 'active'
   AND p.search @@ websearch_to_tsquery('english', s.q)
 ORDER BY rank DESC, p.id DESC
 LIMIT 25
\aset
\if :found = 0
SELECT p.id, p.slug, p.name, p.brand, p.category_id, p.images[1] AS image, p.currency,
       p.min_price, p.max_price,
       EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.stock > 0 AND v.active) AS in_stock,
       p.rating_count, p.rating_sum, p.created_at,
       word_similarity(lower(s.q), lower(p.name))::float8 AS rank
  FROM products p,
       (SELECT (ARRAY['cotton', 'jaket', 'leathr', 'oak lamp', 'kettel', 'wool scarf', 'headphones',
                      'ceramic mug'])[:t] AS q) s
 WHERE p.status = 'active'
   AND lower(s.q) <% lower(p.name)
 ORDER BY rank DESC, p.id DESC
 LIMIT 25;
\endif
