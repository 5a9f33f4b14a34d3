ALTER TABLE order_lines DROP CONSTRAINT order_lines_discount_within, DROP COLUMN discount_minor;
ALTER TABLE orders DROP CONSTRAINT orders_total_adds_up, DROP CONSTRAINT orders_discount_within,
    DROP COLUMN promotions, DROP COLUMN discount_minor;
ALTER TABLE orders ADD CONSTRAINT orders_check CHECK (total_minor = subtotal_minor + shipping_minor + tax_minor);
ALTER TABLE carts DROP COLUMN promotion_codes;
