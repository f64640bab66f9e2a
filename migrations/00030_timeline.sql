-- The timeline's history projection: every public map object's versions with the interval of
-- snapshot time they were valid in, so that the map of a past moment is one indexed lookup
-- (box and instant) instead of reading a whole snapshot file. Filled from the verified
-- snapshots, in their order; pruned with their retention. Owned by instance/timeline.

-- +goose Up
CREATE TABLE timeline_snapshots (
    hash     text        PRIMARY KEY,
    kind     text        NOT NULL,
    as_of    timestamptz NOT NULL,
    -- The snapshot's log position (eventstore.Snapshot): where the replay of later events starts.
    pos_xmin bigint      NOT NULL,
    pos_xmax bigint      NOT NULL,
    running  bigint[]    NOT NULL,
    objects  bigint      NOT NULL  -- objects read from the file, for the logs
);
CREATE INDEX timeline_snapshots_as_of ON timeline_snapshots (as_of);

CREATE TABLE timeline_versions (
    section text      NOT NULL,
    id      text      NOT NULL,
    -- From the as_of of the first snapshot that held this version to that of the first that
    -- did not (open while it is the newest).
    valid   tstzrange NOT NULL,
    -- Where it is drawn: a Knoten's point; a Faden's or an Antrag's its Knoten's; a
    -- Garnrolle's public point. NULL: not on the map by place (listed whatever the box).
    geom    geometry(Point, 4326),
    parent  text,     -- the Knoten it belongs to, if any
    object  jsonb     NOT NULL
);
-- The query: objects in a box at an instant.
CREATE INDEX timeline_versions_where ON timeline_versions USING gist (geom, valid);
-- Ingest and replay: an object's version by id.
CREATE INDEX timeline_versions_id ON timeline_versions (section, id, lower(valid));
CREATE UNIQUE INDEX timeline_versions_open ON timeline_versions (section, id) WHERE upper_inf(valid);
CREATE INDEX timeline_versions_placeless ON timeline_versions (section, lower(valid)) WHERE geom IS NULL;

-- +goose Down
DROP TABLE timeline_versions;
DROP TABLE timeline_snapshots;
