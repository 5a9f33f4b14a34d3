-- Promotions at the cart and on the order (docs/promotions.md).

-- The codes a shopper entered on a cart (normalised), at most five; checkout re-evaluates them.
ALTER TABLE carts
    ADD COLUMN promotion_codes text[] NOT NULL DEFAULT '{}'
        CHECK (cardinality(promotion_codes) <= 5);

-- What the promotions took off: `discount_minor` is lines and shipping together, so
-- total = subtotal + shipping - discount + tax. `promotions` is the snapshot of what applied
-- (id, name, code, amount, the shipping part and the part of each line), for refunds and returns.
ALTER TABLE orders
    ADD COLUMN discount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    ADD COLUMN promotions jsonb NOT NULL DEFAULT '[]';
ALTER TABLE orders
    ADD CONSTRAINT orders_discount_within CHECK (discount_minor <= subtotal_minor + shipping_minor),
    DROP CONSTRAINT orders_check,
    ADD CONSTRAINT orders_total_adds_up CHECK (total_minor = subtotal_minor + shipping_minor - discount_minor + tax_minor);

-- A line's share of the discounts; never more than the line.
ALTER TABLE order_lines
    ADD COLUMN discount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0);
ALTER TABLE order_lines
    ADD CONSTRAINT order_lines_discount_within CHECK (discount_minor <= line_total_minor);
