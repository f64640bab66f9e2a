-- Extensions, shared helpers, and the event log: the one history of everything that happened
-- in this Ortsweberei (owned by instance/eventstore; see docs/EVENTS.md, docs/ARCHITECTURE.md).

-- +goose Up
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- A WGS84 point from longitude and latitude; NULL when either is NULL.
CREATE FUNCTION point4326(lon double precision, lat double precision) RETURNS geometry(Point, 4326)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ST_SetSRID(ST_MakePoint(lon, lat), 4326);

CREATE SEQUENCE events_id_seq AS bigint;

-- Partitioned by time from the start so that the 30-day retention of raw events can later
-- detach and drop old partitions instead of deleting rows. Until then everything lives in the
-- default partition. Nothing references events by foreign key, so partitions can come and go.
CREATE TABLE events (
    id             bigint      NOT NULL DEFAULT nextval('events_id_seq'),
    at             timestamptz NOT NULL,               -- the instance clock's time of the change
    type           text        NOT NULL,
    version        smallint    NOT NULL,               -- payload shape version of this type
    actor_id       uuid,                               -- the account that acted; NULL for timers
    subject_id     uuid,                               -- the object the event is about
    payload        jsonb       NOT NULL,
    h3_index       bigint,                             -- finest H3 cell, for geographic fan-out
    causation_id   bigint,                             -- the event that caused this one
    correlation_id bigint,                             -- the root event of the same command; NULL on the root itself
    public         boolean     NOT NULL,               -- part of the public (federated) history
    -- The writing transaction. Followers read by (tx, id) and only below the oldest
    -- transaction still running, so an event that commits late is never skipped.
    tx             xid8        NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);

CREATE TABLE events_default PARTITION OF events DEFAULT;
ALTER SEQUENCE events_id_seq OWNED BY events.id;

-- The followers' index. Further indexes (by subject, by cell, by time) arrive with the
-- features whose queries need them: each one costs every append.
CREATE INDEX events_position ON events (tx, id);

-- +goose Down
DROP TABLE events;
DROP FUNCTION point4326;
