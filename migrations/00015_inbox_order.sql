-- The inbox processes each actor's activities in the order they arrived (federation/inbox.go):
-- seq is that order; an activity waits while an earlier one of its actor is pending, unless
-- the earlier one failed (failed_at) and waits for its retry. Owned by federation/.

-- +goose Up
ALTER TABLE ap_inbox ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY, ADD COLUMN failed_at timestamptz;
CREATE INDEX ap_inbox_pending ON ap_inbox (actor, seq) WHERE processed_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP INDEX ap_inbox_pending;
ALTER TABLE ap_inbox DROP COLUMN failed_at, DROP COLUMN seq;
