DROP TABLE promotion_redemptions;
DROP TABLE promotions;
DROP TABLE customer_group_members;
DROP TABLE customer_groups;
