-- The one Ortsweberei this instance serves. Owned by instance/ortsweberei.

-- +goose Up
CREATE TABLE ortsweberei (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    name       text        NOT NULL,
    bounds     geometry(MultiPolygon, 4326),  -- NULL: every valid coordinate is inside
    updated_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE ortsweberei;
