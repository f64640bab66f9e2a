-- Moderation of what residents and the Fediverse write (docs/MODERATION.md): Anträge, their
-- Einsprüche and Kommentare (owned by instance/antrag), and the Nähstübchen's messages (owned
-- by instance/chat, which already has removed_at/removed_by and uses them for hiding).
--
-- hidden_at: since when a moderator (or the word filter's hold) keeps it from the public;
-- NULL while it is shown. held: it was held by the word filter when written and has never been
-- public: its public event is written only when a moderator releases it, and no snapshot
-- holds it until then.

-- +goose Up
ALTER TABLE antraege ADD COLUMN hidden_at timestamptz, ADD COLUMN held boolean NOT NULL DEFAULT false;
ALTER TABLE einsprueche ADD COLUMN hidden_at timestamptz, ADD COLUMN held boolean NOT NULL DEFAULT false;
ALTER TABLE antrag_kommentare ADD COLUMN hidden_at timestamptz;
-- An author's own hidden messages, read with the room's page (chat.List): few, and only theirs.
CREATE INDEX chat_nachrichten_hidden ON chat_nachrichten (account_id, created_at DESC, id DESC) WHERE removed_at IS NOT NULL;

-- +goose Down
DROP INDEX chat_nachrichten_hidden;
ALTER TABLE antrag_kommentare DROP COLUMN hidden_at;
ALTER TABLE einsprueche DROP COLUMN hidden_at, DROP COLUMN held;
ALTER TABLE antraege DROP COLUMN hidden_at, DROP COLUMN held;
