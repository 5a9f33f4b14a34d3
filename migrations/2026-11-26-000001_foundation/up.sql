-- Extensions used across the schema: trigram matching for typo-tolerant search.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Keeps updated_at honest on every UPDATE of a table that has one.
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
