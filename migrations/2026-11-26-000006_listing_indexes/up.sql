-- Brand listings sorted by price (found by EXPLAIN on 100k products: without it the planner
-- walks the whole price index and filters by brand).
CREATE INDEX products_brand_price_idx ON products (brand, min_price, id) WHERE status = 'active';

