-- The livestreams' Fediverse post and the sweep (docs/STREAMS.md, "The Fediverse and the
-- sweep"). Owned by instance/stream.
--
-- first_live_at is when the stream first went live: the Ortsweberei's post about it is
-- published then, and a stream that went live before is not announced again when its broadcast
-- comes back. reported_at is when nginx-rtmp last said the broadcast runs (on_publish, then
-- every on_update): a live stream whose reports stopped (nginx died) is taken offline by the
-- sweep.

-- +goose Up
ALTER TABLE streams ADD COLUMN first_live_at timestamptz, ADD COLUMN reported_at timestamptz;
UPDATE streams SET first_live_at = live_since WHERE live_since IS NOT NULL;
UPDATE streams SET reported_at = live_since WHERE state = 'live';
ALTER TABLE streams ADD CHECK (state <> 'live' OR reported_at IS NOT NULL);
-- The sweep: the live streams, by their last report.
CREATE INDEX streams_reported ON streams (reported_at) WHERE state = 'live';

-- +goose Down
DROP INDEX streams_reported;
ALTER TABLE streams DROP COLUMN reported_at, DROP COLUMN first_live_at;
