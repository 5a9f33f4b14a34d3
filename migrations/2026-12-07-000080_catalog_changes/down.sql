DROP TRIGGER variants_feed_stock ON variants;
DROP TRIGGER variants_feed_rows ON variants;
DROP FUNCTION catalog_variant_changed();
DROP TRIGGER products_feed ON products;
DROP FUNCTION catalog_product_changed();
DROP TABLE catalog_changes;
