ALTER TABLE refresh_tokens DROP COLUMN device;
DROP TABLE account_tokens;
ALTER TABLE users DROP COLUMN erased_at;
ALTER TABLE users DROP COLUMN email_verified_at;
