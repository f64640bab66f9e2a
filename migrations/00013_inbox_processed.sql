-- The inbox queues one job per group of activities it took together (federation/intake.go);
-- each activity is marked when processed, so that a retried job does only what is left.
-- Owned by federation/.

-- +goose Up
ALTER TABLE ap_inbox ADD COLUMN processed_at timestamptz;

-- +goose Down
ALTER TABLE ap_inbox DROP COLUMN processed_at;
