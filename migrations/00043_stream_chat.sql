-- The chat's rooms (docs/STREAMS.md): the Nähstübchen and each livestream's own chat share
-- chat_nachrichten. Owned by instance/chat.
--
-- room: the Nähstübchen is the nil UUID (every message written before this migration); a
-- stream's room is the stream's id. score: the sum of the message's votes, kept with each vote
-- in its transaction, only to sort a room "oben"; it is never read out (no answer, frame or
-- event carries it). chat_bewertungen: one vote per person and message (1 up, -1 down; taking
-- a vote back deletes its row). chat_zuschauer: how many chat sockets each process holds per
-- room, for the viewer count over all replicas; UNLOGGED, as the counts are rewritten every
-- few seconds and worth nothing after a crash.

-- +goose Up
ALTER TABLE chat_nachrichten
    ADD COLUMN room  uuid    NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    ADD COLUMN score integer NOT NULL DEFAULT 0;
DROP INDEX chat_nachrichten_recent;
CREATE INDEX chat_nachrichten_recent ON chat_nachrichten (room, created_at DESC, id DESC) WHERE removed_at IS NULL;
CREATE INDEX chat_nachrichten_top ON chat_nachrichten (room, score DESC, created_at DESC, id DESC) WHERE removed_at IS NULL;
DROP INDEX chat_nachrichten_hidden;
CREATE INDEX chat_nachrichten_hidden ON chat_nachrichten (account_id, room, created_at DESC, id DESC) WHERE removed_at IS NOT NULL;

CREATE TABLE chat_bewertungen (
    nachricht_id uuid        NOT NULL REFERENCES chat_nachrichten (id),
    account_id   uuid        NOT NULL REFERENCES accounts (id),
    vote         smallint    NOT NULL CHECK (vote IN (-1, 1)),
    at           timestamptz NOT NULL,
    PRIMARY KEY (nachricht_id, account_id)
);

CREATE UNLOGGED TABLE chat_zuschauer (
    process uuid        NOT NULL,
    room    uuid        NOT NULL,
    count   integer     NOT NULL CHECK (count > 0),
    seen_at timestamptz NOT NULL,
    PRIMARY KEY (process, room)
);

-- +goose Down
DROP TABLE chat_zuschauer;
DROP TABLE chat_bewertungen;
DROP INDEX chat_nachrichten_hidden;
DROP INDEX chat_nachrichten_top;
DROP INDEX chat_nachrichten_recent;
ALTER TABLE chat_nachrichten DROP COLUMN score, DROP COLUMN room;
CREATE INDEX chat_nachrichten_recent ON chat_nachrichten (created_at DESC, id DESC) WHERE removed_at IS NULL;
CREATE INDEX chat_nachrichten_hidden ON chat_nachrichten (account_id, created_at DESC, id DESC) WHERE removed_at IS NOT NULL;
