-- The snapshots of neighbouring Ortswebereien this instance keeps a mirror of
-- (docs/FEDERATION.md, "Snapshots"; docs/SNAPSHOTS.md, "Mirrors"). Owned by
-- federation/internal/mirror.
--
-- A row is written only after the file is on disk under its final name
-- (<snapshot dir>/mirrors/<origin host>/<hash>.json.gz and .sig) and was verified against the
-- origin's snapshot key: a mirrored snapshot that is listed is whole and believed.

-- +goose Up
CREATE TABLE snapshot_mirrors (
    origin      text        NOT NULL, -- the origin's host (with its port, if any): the directory's name
    hash        text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    instance    text        NOT NULL, -- the origin's Ortsweberei actor: the document's "instance"
    kind        text        NOT NULL CHECK (kind IN ('full', 'incremental')),
    as_of       timestamptz NOT NULL,
    previous    text,
    base        text,
    bytes       bigint      NOT NULL CHECK (bytes > 0),
    signature   text        NOT NULL, -- the detached signature, as in <hash>.sig
    -- The origin's snapshot key it was verified with (Multikey, z6Mk…): the file stays
    -- checkable when the origin, and its actor, are gone or its key has changed since.
    public_key  text        NOT NULL,
    source_url  text        NOT NULL, -- where it was fetched from
    verified_at timestamptz NOT NULL,
    PRIMARY KEY (origin, hash)
);
-- One chain per origin: two mirrored snapshots naming the same predecessor are a fork (a
-- history rewritten), and the second is refused.
CREATE UNIQUE INDEX snapshot_mirrors_previous ON snapshot_mirrors (origin, previous);
CREATE INDEX snapshot_mirrors_as_of ON snapshot_mirrors (origin, as_of);

-- +goose Down
DROP TABLE snapshot_mirrors;
