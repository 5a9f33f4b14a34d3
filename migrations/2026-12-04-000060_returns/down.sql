DROP TABLE returns;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_returned_within, DROP COLUMN returned_quantity;
