#!/usr/bin/env bash
# Prints EXPLAIN (ANALYZE, BUFFERS) of the catalog's listing and search queries, in the exact
# shapes crates/persistence/src/catalog.rs builds, against a seeded database, and writes them to
# docs/query-plans.md. Usage: benches/explain.sh [database-url]   (default: the bench database)
#   Seed first: SHOP_DATABASE__URL=<url> cargo run -p shop-api -- seed --products 100000
set -euo pipefail
cd "$(dirname "$0")/.."
URL=${1:-postgres://postgres@127.0.0.1:5432/shop_bench}
OUT=docs/query-plans.md
count=$(psql "$URL" -Atc "select count(*) from products")
cats=$(psql "$URL" -Atc "with recursive d as (select id from categories where slug = 'clothing' union all select c.id from categories c join d on c.parent_id = d.id) select '{' || string_agg(id::text, ',') || '}' from d")

IN_STOCK="EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.stock > 0 AND v.active)"
COLS="p.id, p.slug, p.name, p.brand, p.category_id, p.images[1] AS image, p.currency, p.min_price, p.max_price, $IN_STOCK AS in_stock, p.rating_count, p.rating_sum, p.created_at"
RATING="(CASE WHEN p.rating_count > 0 THEN p.rating_sum::float8 / p.rating_count ELSE 0 END)"

declare -a NAMES SQLS
add() { NAMES+=("$1"); SQLS+=("$2"); }
add "Newest, first page" \
  "SELECT $COLS, 0::float8 AS rank FROM products p WHERE p.status = 'active' ORDER BY p.created_at DESC, p.id DESC LIMIT 25"
add "Newest, a later page (keyset)" \
  "SELECT $COLS, 0::float8 AS rank FROM products p WHERE p.status = 'active' AND (p.created_at, p.id) < ('2026-02-15 00:00:00+00', 'ffffffff-ffff-ffff-ffff-ffffffffffff') ORDER BY p.created_at DESC, p.id DESC LIMIT 25"
add "Category (with descendants) + price range, price ascending" \
  "SELECT $COLS, 0::float8 AS rank FROM products p WHERE p.status = 'active' AND p.category_id = ANY('$cats'::uuid[]) AND p.min_price >= 1000 AND p.min_price <= 5000 ORDER BY p.min_price ASC, p.id ASC LIMIT 25"
add "Brand, in stock, price descending" \
  "SELECT $COLS, 0::float8 AS rank FROM products p WHERE p.status = 'active' AND p.brand = 'Globex' AND $IN_STOCK ORDER BY p.min_price DESC, p.id DESC LIMIT 25"
add "Full-text search (two words), relevance" \
  "SELECT $COLS, ts_rank_cd(p.search, websearch_to_tsquery('english', 'cotton shirt'))::float8 AS rank FROM products p WHERE p.status = 'active' AND p.search @@ websearch_to_tsquery('english', 'cotton shirt') ORDER BY rank DESC, p.id DESC LIMIT 25"
add "Full-text search (one common word), relevance" \
  "SELECT $COLS, ts_rank_cd(p.search, websearch_to_tsquery('english', 'jacket'))::float8 AS rank FROM products p WHERE p.status = 'active' AND p.search @@ websearch_to_tsquery('english', 'jacket') ORDER BY rank DESC, p.id DESC LIMIT 25"
add "Search with a typo (full text found nothing: names by trigram word similarity)" \
  "SELECT $COLS, word_similarity(lower('jaket'), lower(p.name))::float8 AS rank FROM products p WHERE p.status = 'active' AND lower('jaket') <% lower(p.name) ORDER BY rank DESC, p.id DESC LIMIT 25"
add "Rating sort" \
  "SELECT $COLS, $RATING AS rank FROM products p WHERE p.status = 'active' ORDER BY rank DESC, p.rating_count DESC, p.id DESC LIMIT 25"
add "Brand facet over a search (cached 30 s per filter set)" \
  "SELECT p.brand AS value, count(*) AS count FROM products p WHERE p.status = 'active' AND p.search @@ websearch_to_tsquery('english', 'cotton shirt') AND p.brand IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 50"
add "Product detail" \
  "SELECT p.*, c.slug, c.name FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.id = md5('seed-product-4242')::uuid"
add "Product detail variants" \
  "SELECT * FROM variants WHERE product_id = md5('seed-product-4242')::uuid ORDER BY position, sku"

{
  echo "# Query plans"
  echo
  echo "EXPLAIN (ANALYZE, BUFFERS) of the catalog queries on $count seeded products, produced by"
  echo "\`benches/explain.sh\` ($(date -u +%Y-%m-%d), PostgreSQL $(psql "$URL" -Atc 'show server_version'))."
  echo "The SQL has the shapes \`crates/persistence/src/catalog.rs\` builds (values inlined here; the"
  echo "application binds them). Connections run with \`pg_trgm.word_similarity_threshold = 0.4\`."
  echo
  for i in "${!NAMES[@]}"; do
    echo "## ${NAMES[$i]}"
    echo
    echo '```'
    psql "$URL" -At -c "SET pg_trgm.word_similarity_threshold = 0.4" -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${SQLS[$i]}"
    echo '```'
    echo
  done
} > "$OUT"
grep -E '^## |Execution Time' "$OUT"
