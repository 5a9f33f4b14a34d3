-- Transactional outbox: domain events written in the transaction of the change that causes
-- them, delivered afterwards by the dispatcher (notifications, message broker). docs/events.md.
CREATE TABLE outbox (
    id             uuid PRIMARY KEY,                 -- UUIDv7: time-ordered
    event_type     text NOT NULL,
    schema_version integer NOT NULL CHECK (schema_version > 0),
    aggregate_type text NOT NULL,
    aggregate_id   uuid NOT NULL,
    payload        jsonb NOT NULL,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    -- attempts started (a claim counts one, so a worker that crashes mid-delivery uses one up)
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- a pending event is due from here; a claim moves it forward by the lease, a failure by the backoff
    available_at   timestamptz NOT NULL DEFAULT now(),
    claim_id       uuid,                             -- the current attempt; only its holder settles it
    notified_at    timestamptz,                      -- the customer notification went out
    published_at   timestamptz,                      -- the broker confirmed the message
    delivered_at   timestamptz,
    last_error     text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due_idx ON outbox (available_at, id) WHERE status = 'pending';
CREATE INDEX outbox_status_idx ON outbox (status, id);
CREATE INDEX outbox_type_idx ON outbox (event_type, id);
CREATE INDEX outbox_aggregate_idx ON outbox (aggregate_id);
CREATE INDEX outbox_delivered_idx ON outbox (delivered_at) WHERE status = 'delivered';
CREATE TRIGGER outbox_updated_at BEFORE UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION set_updated_at();
