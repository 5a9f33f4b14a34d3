-- Returns (docs/orders.md): a customer asks delivered units back within the return window; the
-- merchant approves or rejects, receives (restock, ledger reason `return`) and refunds them.

-- Units in open returns (requested, approved, received); once refunded they count as refunded.
ALTER TABLE order_lines ADD COLUMN returned_quantity integer NOT NULL DEFAULT 0;
ALTER TABLE order_lines
    ADD CONSTRAINT order_lines_returned_within
        CHECK (returned_quantity >= 0 AND refunded_quantity + returned_quantity <= quantity);

CREATE TABLE returns (
    id         uuid PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status     text NOT NULL CHECK (status IN ('requested', 'approved', 'rejected', 'received', 'refunded', 'withdrawn')),
    -- [{line_no, quantity, restocked}]
    lines      jsonb NOT NULL,
    reason     text NOT NULL,
    note       text,
    refund_id  uuid REFERENCES refunds (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT returns_refunded_has_refund CHECK ((status = 'refunded') = (refund_id IS NOT NULL))
);
CREATE INDEX returns_order_idx ON returns (order_id, created_at);
CREATE INDEX returns_status_idx ON returns (status, created_at DESC, id DESC);
CREATE TRIGGER returns_updated_at BEFORE UPDATE ON returns FOR EACH ROW EXECUTE FUNCTION set_updated_at();
