-- Knoten and the Fäden that lead to them. Owned by instance/knoten.

-- +goose Up
CREATE TABLE knoten (
    id               uuid        PRIMARY KEY,
    type             text        NOT NULL,
    title            text        NOT NULL,
    description      text        NOT NULL DEFAULT '',
    geom             geometry(Point, 4326) NOT NULL,
    h3               bigint      NOT NULL,   -- H3 cell at resolution 15; coarser cells are ranges
    created_by       uuid        NOT NULL REFERENCES accounts (id),
    created_at       timestamptz NOT NULL,
    last_activity_at timestamptz NOT NULL,
    garn_count       integer     NOT NULL DEFAULT 0 CHECK (garn_count >= 0),
    -- When the Knoten dissolves unless something changes: the latest expiry of its active
    -- Fäden. NULL while it holds Garn (permanent). Kept here, rather than computed per read,
    -- so that a listing tells "still there" at any instant from the row itself. Deliberately
    -- not indexed: it changes with every Faden spun, and without an index on it (or on the
    -- other columns a spin touches) that update is a cheap HOT update. The sweep reaches due
    -- Knoten through their due Fäden instead.
    dissolves_at     timestamptz,
    dissolved_at     timestamptz
) WITH (fillfactor = 85);  -- room on each page for those HOT updates
CREATE INDEX knoten_geom ON knoten USING gist (geom) WHERE dissolved_at IS NULL;
CREATE INDEX knoten_h3 ON knoten (h3) WHERE dissolved_at IS NULL;
CREATE INDEX knoten_text ON knoten USING gin ((title || ' ' || description) gin_trgm_ops) WHERE dissolved_at IS NULL;

CREATE TABLE faeden (
    id         uuid        PRIMARY KEY,
    knoten_id  uuid        NOT NULL REFERENCES knoten (id),
    account_id uuid        NOT NULL REFERENCES accounts (id),
    type       text        NOT NULL,
    twisted    boolean     NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,               -- NULL while twisted (Garn)
    expired_at timestamptz,               -- set when the expiry sweep ended it
    CHECK ((twisted AND expires_at IS NULL) OR (NOT twisted AND expires_at IS NOT NULL))
);
CREATE INDEX faeden_knoten ON faeden (knoten_id) WHERE expired_at IS NULL;
-- The expiry sweep's index: only Fäden that can still expire are in it.
CREATE INDEX faeden_due ON faeden (expires_at) WHERE expired_at IS NULL AND NOT twisted;

-- +goose Down
DROP TABLE faeden;
DROP TABLE knoten;
