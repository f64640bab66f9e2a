-- Where each consumer of the event log has read up to. Owned by instance/eventstore.

-- +goose Up
CREATE TABLE event_cursors (
    consumer   text        PRIMARY KEY,
    tx         xid8        NOT NULL,
    id         bigint      NOT NULL,
    updated_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE event_cursors;
