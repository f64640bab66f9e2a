-- A neighbour's Einspruch its origin deleted (a moderator there hid it; docs/FEDERATION.md,
-- "Moderation"): its words are dropped (reason '') and it is no longer shown; the row stays,
-- marked by deleted_at, as a tombstone against a late delivery of its Create. Owned by
-- instance/nachbarn.

-- +goose Up
ALTER TABLE remote_einsprueche ADD COLUMN deleted_at timestamptz;
ALTER TABLE remote_einsprueche ADD CONSTRAINT remote_einsprueche_deleted_no_words CHECK (deleted_at IS NULL OR reason = '');

-- +goose Down
ALTER TABLE remote_einsprueche DROP CONSTRAINT remote_einsprueche_deleted_no_words;
ALTER TABLE remote_einsprueche DROP COLUMN deleted_at;
