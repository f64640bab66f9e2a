-- Moderation of the map (docs/MODERATION.md, "What hiding does to the map"): when a moderator
-- hid a Knoten or a Faden (or the word filter held a new Knoten for review). NULL: shown.
-- Owned by instance/knoten.
--
-- Hidden rows are rare, and every public read already narrows by an index (bbox, cell, id)
-- before it filters on this column. The one index is the hidden Knoten themselves (a few
-- rows), which a snapshot's Fäden are checked against. A Faden spun or twisted still updates
-- its Knoten HOT: hidden_at changes only when a moderator acts. A nullable column without a
-- default is added without rewriting the tables.

-- +goose Up
ALTER TABLE knoten ADD COLUMN hidden_at timestamptz;
ALTER TABLE faeden ADD COLUMN hidden_at timestamptz;
CREATE INDEX knoten_hidden ON knoten (id) WHERE hidden_at IS NOT NULL;

-- +goose Down
DROP INDEX knoten_hidden;
ALTER TABLE faeden DROP COLUMN hidden_at;
ALTER TABLE knoten DROP COLUMN hidden_at;
