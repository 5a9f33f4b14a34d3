DROP INDEX products_rating_idx;
DROP TABLE reviews;
