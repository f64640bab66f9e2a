-- The livestreams' Fediverse post, the sweep, and the key's holder (docs/STREAMS.md). Owned by
-- instance/stream.
--
-- first_live_at is when the stream first went live: the Ortsweberei's post about it is
-- published then, and a stream that went live before is not announced again when its broadcast
-- comes back. reported_at is when nginx-rtmp last said the broadcast runs (on_publish, then
-- every on_update): a live stream whose reports stopped (nginx died) is taken offline by the
-- sweep. key_by is the account the current ingest key was shown to (who made the stream, or
-- last rotated its key): the key lets a broadcast in only while that account may run streams
-- (not banned, not suspended, still admin or streamer).

-- +goose Up
ALTER TABLE streams ADD COLUMN first_live_at timestamptz, ADD COLUMN reported_at timestamptz,
    ADD COLUMN key_by uuid REFERENCES accounts (id) ON DELETE SET NULL;
UPDATE streams SET first_live_at = live_since WHERE live_since IS NOT NULL;
UPDATE streams SET reported_at = live_since WHERE state = 'live';
UPDATE streams s SET key_by = coalesce(
    (SELECT e.actor_id FROM events e WHERE e.type = 'StreamSchluesselErneuert' AND e.subject_id = s.id ORDER BY e.id DESC LIMIT 1),
    s.created_by)
WHERE key_hash IS NOT NULL;
ALTER TABLE streams ADD CHECK (state <> 'live' OR reported_at IS NOT NULL);
-- The sweep: the live streams, by their last report.
CREATE INDEX streams_reported ON streams (reported_at) WHERE state = 'live';

-- +goose Down
DROP INDEX streams_reported;
ALTER TABLE streams DROP COLUMN key_by, DROP COLUMN reported_at, DROP COLUMN first_live_at;
