-- The live map (instance/mapfeed) reads residents by the cell of their public position; the
-- Nähstübchen (instance/chat) keeps its messages.

-- +goose Up
CREATE INDEX accounts_position_h3 ON accounts (position_h3) WHERE on_map AND position_h3 IS NOT NULL;

-- Owned by instance/chat.
CREATE TABLE chat_nachrichten (
    id         uuid        PRIMARY KEY,
    account_id uuid        NOT NULL REFERENCES accounts (id),
    text       text        NOT NULL,
    created_at timestamptz NOT NULL,
    removed_at timestamptz,             -- a moderator took it down
    removed_by uuid REFERENCES accounts (id)
);
CREATE INDEX chat_nachrichten_recent ON chat_nachrichten (created_at DESC, id DESC) WHERE removed_at IS NULL;

-- +goose Down
DROP TABLE chat_nachrichten;
DROP INDEX accounts_position_h3;
