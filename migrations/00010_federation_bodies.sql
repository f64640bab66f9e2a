-- Activity bodies live in tables of their own rather than in River's job arguments: River
-- indexes job arguments (GIN), and an activity fanned out to a thousand inboxes would be
-- stored, and indexed, a thousand times. Jobs carry ids. Owned by federation/.

-- +goose Up

-- What the inbox took: the id (for deduplication), the sender, and the activity until the
-- retention sweep removes it.
ALTER TABLE ap_inbox_seen RENAME TO ap_inbox;
ALTER INDEX ap_inbox_seen_received RENAME TO ap_inbox_received;
ALTER TABLE ap_inbox ADD COLUMN actor text, ADD COLUMN body json;

-- What we send: one row per activity, however many inboxes it goes to.
CREATE TABLE ap_outgoing (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    signer     text        NOT NULL, -- the path of the local actor that signs it
    body       json        NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX ap_outgoing_created ON ap_outgoing (created_at);

-- +goose Down
DROP TABLE ap_outgoing;
ALTER TABLE ap_inbox DROP COLUMN body, DROP COLUMN actor;
ALTER INDEX ap_inbox_received RENAME TO ap_inbox_seen_received;
ALTER TABLE ap_inbox RENAME TO ap_inbox_seen;
