-- The Ortsweberei's signed snapshots (docs/SNAPSHOTS.md). Owned by instance/snapshot.
--
-- A row is written only after its files are on disk under their final names and have been read
-- back and verified: a snapshot that is listed (and may be served, and lets the retention delete
-- events) is whole. The files are the record; the row is their index.

-- +goose Up
CREATE TABLE snapshots (
    hash        text        PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
    kind        text        NOT NULL CHECK (kind IN ('full', 'incremental')),
    -- The instance clock's time the state is of (the snapshot transaction's start).
    as_of       timestamptz NOT NULL,
    -- The log position (eventstore.Snapshot): an event is in the state iff tx < pos_xmin, or
    -- tx < pos_xmax and tx is not in pos_running.
    pos_xmin    bigint      NOT NULL,
    pos_xmax    bigint      NOT NULL,
    pos_running bigint[]    NOT NULL,
    previous    text        REFERENCES snapshots (hash),
    base        text        REFERENCES snapshots (hash),
    -- The scheduled slot it fills: one snapshot per slot and kind, whichever replica took it.
    slot        timestamptz NOT NULL,
    bytes       bigint      NOT NULL CHECK (bytes > 0), -- the compressed file's size
    file        text        NOT NULL,
    signature   text        NOT NULL,                   -- the detached signature, as in <hash>.sig
    verified_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    UNIQUE (kind, slot),
    CHECK ((kind = 'full') = (base IS NULL))
);
-- One chain: a snapshot has at most one successor, and there is one first.
CREATE UNIQUE INDEX snapshots_previous ON snapshots (previous);
CREATE UNIQUE INDEX snapshots_first ON snapshots ((true)) WHERE previous IS NULL;
-- The timeline's question: the snapshots up to a moment.
CREATE INDEX snapshots_as_of ON snapshots (as_of);

-- The instance's Ed25519 snapshot key: made once, on first need (INSERT … ON CONFLICT DO
-- NOTHING, then read: replicas agree on the first stored). Its public half is published on
-- the Ortsweberei's actor as <actor>#snapshot-key. Not an event: a key is infrastructure.
CREATE TABLE snapshot_keys (
    one          boolean     PRIMARY KEY DEFAULT true CHECK (one),
    ed25519_seed bytea       NOT NULL CHECK (length(ed25519_seed) = 32),
    created_at   timestamptz NOT NULL
);

-- +goose Down
DROP TABLE snapshot_keys;
DROP TABLE snapshots;
