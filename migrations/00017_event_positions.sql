-- Log positions that survive a dump and restore into another cluster. Owned by
-- instance/eventstore; see docs/ARCHITECTURE.md, "Reading the log by position".
--
-- A position's first part was the writing transaction's id. A fresh cluster's transaction ids
-- start low, so after a restore every new event sorted before the restored ones and the
-- followers, whose cursors came with the dump, never saw it. Now the log's tx is the
-- transaction id plus an offset that belongs to the database (and travels with its dump):
-- eventstore.KeepPositionsAhead raises it at start when the log is ahead of the counter.
--
-- The offset is the body of a SQL function, not a table row: PostgreSQL inlines it as a
-- constant into every statement that calls it, so the append path pays nothing for it (a
-- table would cost a lookup per appended row). Replacing the function invalidates the plans
-- that inlined it. The bodies are SQL-standard (RETURN …): parsed once, so they do not depend
-- on the search_path that pg_restore runs with.

-- +goose Up
CREATE FUNCTION events_tx_offset() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN 0;

-- The log tx of the current transaction: what every appended event stores.
CREATE FUNCTION events_tx() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN pg_current_xact_id()::text::bigint + events_tx_offset();

-- The horizon in log tx: every event below it is final (its transaction has ended).
CREATE FUNCTION events_horizon() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN pg_snapshot_xmin(pg_current_snapshot())::text::bigint + events_tx_offset();

ALTER TABLE events ALTER COLUMN tx DROP DEFAULT;
ALTER TABLE events ALTER COLUMN tx TYPE bigint USING tx::text::bigint;
ALTER TABLE events ALTER COLUMN tx SET DEFAULT events_tx();
ALTER TABLE event_cursors ALTER COLUMN tx TYPE bigint USING tx::text::bigint;

-- +goose Down
-- Back to raw transaction ids: after a raised offset, new events sort before the old ones again
-- until the cluster's counter catches up (the behaviour this migration fixes).
ALTER TABLE event_cursors ALTER COLUMN tx TYPE xid8 USING tx::text::xid8;
ALTER TABLE events ALTER COLUMN tx DROP DEFAULT;
ALTER TABLE events ALTER COLUMN tx TYPE xid8 USING tx::text::xid8;
ALTER TABLE events ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
DROP FUNCTION events_horizon;
DROP FUNCTION events_tx;
DROP FUNCTION events_tx_offset;
