DROP TABLE inventory_ledger;
DROP TRIGGER variants_prices ON variants;
DROP FUNCTION refresh_product_prices();
DROP TABLE variants;
DROP TABLE products;
DROP TABLE categories;
