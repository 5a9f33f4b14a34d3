ALTER TABLE promotion_redemptions
    ADD CONSTRAINT promotion_redemptions_promotion_id_fkey FOREIGN KEY (promotion_id) REFERENCES promotions (id) ON DELETE RESTRICT;
