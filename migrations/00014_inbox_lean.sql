-- The inbox's write path, made lighter (federation/intake.go): the body is text (the inbox
-- has parsed it already; PostgreSQL need not parse it again), and the time index that only
-- the retention sweep reads is a BRIN index (rows arrive in time order), which costs an
-- insert next to nothing. Owned by federation/.

-- +goose Up
ALTER TABLE ap_inbox ALTER COLUMN body TYPE text;
DROP INDEX ap_inbox_received;
CREATE INDEX ap_inbox_received ON ap_inbox USING brin (received_at);

-- +goose Down
DROP INDEX ap_inbox_received;
CREATE INDEX ap_inbox_received ON ap_inbox (received_at);
ALTER TABLE ap_inbox ALTER COLUMN body TYPE json USING body::json;
