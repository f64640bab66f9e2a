-- The inbox processes each actor's activities in the order they arrived (federation/inbox.go):
-- seq is that order, and a job does an actor's pending activities (the index) from the earliest
-- on; one that failed (failed_at) waits for its own job's retry and holds up nothing. Owned by
-- federation/.

-- +goose Up
ALTER TABLE ap_inbox ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY, ADD COLUMN failed_at timestamptz;
CREATE INDEX ap_inbox_pending ON ap_inbox (actor, seq) WHERE processed_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP INDEX ap_inbox_pending;
ALTER TABLE ap_inbox DROP COLUMN failed_at, DROP COLUMN seq;
