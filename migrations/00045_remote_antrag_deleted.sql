-- A neighbour's Antrag its origin deleted (a moderator there hid it; docs/FEDERATION.md,
-- "Moderation"): remote_antrag_deletes keeps, per Antrag IRI and actor, the time of the latest Delete
-- believed from its actor, also for an Antrag we never had (the Delete may come before its
-- Create: delivery jobs keep no order). remote_antraege.sent_at is when the origin sent the
-- state we keep (its Create's or Update's published; a fetch: when we fetched it). A state
-- sent no later than the Delete never brings the words back; one sent after it (the origin's
-- next Update once the Antrag is shown again) does. Owned by instance/nachbarn.

-- +goose Up
CREATE TABLE remote_antrag_deletes (
    iri        text        NOT NULL,
    actor      text        NOT NULL,  -- only the Antrag's own actor's Delete counts (StoreAntrag)
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (iri, actor)
);
ALTER TABLE remote_antraege ADD COLUMN sent_at timestamptz;

-- +goose Down
ALTER TABLE remote_antraege DROP COLUMN sent_at;
DROP TABLE remote_antrag_deletes;
