-- The neighbours' snapshots this instance refused to mirror after fetching them (docs/FEDERATION.md,
-- "Snapshots: a neighbour's mirror"). Owned by federation/internal/mirror.
--
-- A refused job is cancelled, but the hourly catch-up lists the snapshot again from the
-- origin's index, and an announcement may come again: without this table each would download
-- the whole file (up to 512 MiB) again, only to refuse it again. A hash here is neither queued
-- by the catch-up nor fetched for an announcement. Only refusals about the file itself are
-- recorded (too large, not what was announced, proof, chain, fork), never a failure that may pass.

-- +goose Up
CREATE TABLE snapshot_mirror_refusals (
    origin     text        NOT NULL, -- the origin's host, as in snapshot_mirrors
    hash       text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    reason     text        NOT NULL,
    refused_at timestamptz NOT NULL,
    PRIMARY KEY (origin, hash)
);

-- +goose Down
DROP TABLE snapshot_mirror_refusals;
