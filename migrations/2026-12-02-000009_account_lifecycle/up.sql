-- Account lifecycle: verified addresses, erasure, and the tokens mailed for password reset, email
-- verification and email change (docs/auth.md).

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
-- Set when the person was erased: the row stays (orders keep their customer for accounting) with
-- every personal field replaced; see persistence::accounts.
ALTER TABLE users ADD COLUMN erased_at timestamptz;

-- The device a session signed in from (its User-Agent, shortened), for the data export and for
-- people to recognise their sessions.
ALTER TABLE refresh_tokens ADD COLUMN device text CHECK (device IS NULL OR length(device) <= 200);

-- One live token per user and purpose: a new request replaces the previous one. The token itself
-- is stored nowhere; the hash of it, and its id (from which only the server's key derives it).
CREATE TABLE account_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('password_reset', 'email_verification', 'email_change')),
    token_hash  bytea NOT NULL,
    -- email_change: the address to switch to once confirmed.
    new_email   text CHECK (new_email IS NULL OR new_email = lower(btrim(new_email))),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT account_tokens_email_change_has_address CHECK ((purpose = 'email_change') = (new_email IS NOT NULL))
);
CREATE UNIQUE INDEX account_tokens_one_per_purpose ON account_tokens (user_id, purpose);
CREATE UNIQUE INDEX account_tokens_hash_key ON account_tokens (token_hash);
