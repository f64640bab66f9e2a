-- Federation: what the inbox keeps, and for how long; and the ids of Fediverse poll votes so
-- that their authors can delete them. Owned by federation/ (retention.go, process.go).

-- +goose Up

-- The retention sweep drops an activity's body once it is processed; it finds the bodies
-- still kept through this index, however many bare ids the dedup window holds.
CREATE INDEX ap_inbox_kept ON ap_inbox (received_at) WHERE body IS NOT NULL;

-- A poll vote's own id (the Note Mastodon sends), so a Delete of it removes it.
ALTER TABLE antrag_fremdstimmen ADD COLUMN object text;

-- +goose Down
ALTER TABLE antrag_fremdstimmen DROP COLUMN object;
DROP INDEX ap_inbox_kept;
