ALTER TABLE order_lines DROP CONSTRAINT order_lines_discount_within, DROP COLUMN discount_minor;
ALTER TABLE orders DROP CONSTRAINT orders_discount_within, DROP COLUMN promotions, DROP COLUMN discount_minor;
ALTER TABLE carts DROP COLUMN promotion_codes;
