-- The Partizipartei's livestreams (docs/STREAMS.md). Owned by instance/stream.
--
-- key_hash is the SHA-256 of the stream's ingest key (the key itself is shown once, when it is
-- made, and never stored); NULL once the stream has ended, so that no key lets it go live
-- again. live_key_hash is the hash of the key the running broadcast was let in with: nginx-rtmp
-- names that key again in on_publish_done, and after a rotation during the broadcast it is no
-- longer key_hash. live_client is nginx-rtmp's id of the connection that went live, so that
-- the end of another connection (a second publisher nginx refused) does not take it offline.

-- +goose Up
CREATE TABLE streams (
    id            uuid        PRIMARY KEY,
    title         text        NOT NULL CHECK (title <> '' AND char_length(title) <= 200),
    scheduled_at  timestamptz,
    state         text        NOT NULL CHECK (state IN ('geplant', 'live', 'unterbrochen', 'beendet')),
    key_hash      bytea       UNIQUE CHECK (length(key_hash) = 32),
    live_key_hash bytea       CHECK (length(live_key_hash) = 32),
    live_client   text,
    live_since    timestamptz,
    created_by    uuid        REFERENCES accounts (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    CHECK ((state = 'beendet') = (ended_at IS NOT NULL)),
    CHECK (state <> 'beendet' OR (key_hash IS NULL AND live_key_hash IS NULL)),
    CHECK ((state = 'live') = (live_key_hash IS NOT NULL))
);
-- on_publish_done names the key the broadcast went live with.
CREATE INDEX streams_live_key ON streams (live_key_hash) WHERE live_key_hash IS NOT NULL;
-- The listing: what is live or to come, and the past, newest first.
CREATE INDEX streams_state ON streams (state, scheduled_at, created_at);
CREATE INDEX streams_ended ON streams (ended_at DESC) WHERE ended_at IS NOT NULL;

-- +goose Down
DROP TABLE streams;
