-- A redemption's foreign key to its promotion made every checkout take FOR KEY SHARE on the rows
-- of the promotions it applied: with automatic promotions on every order, all checkouts shared
-- locks on the same few rows (a MultiXact per row, rewritten by each). Promotions are never
-- deleted (archived instead), and an admin's edit of a promotion's limits now waits for
-- in-flight checkouts through a transaction-scoped advisory lock (docs/promotions.md), so the key
-- goes.
ALTER TABLE promotion_redemptions DROP CONSTRAINT promotion_redemptions_promotion_id_fkey;
