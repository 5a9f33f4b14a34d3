DROP INDEX products_brand_price_idx;
