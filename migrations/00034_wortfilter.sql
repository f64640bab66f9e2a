-- The word filter's list (docs/MODERATION.md, "Word filter"). Owned by instance/wortfilter.

-- +goose Up
CREATE TABLE wortfilter (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    words      text[]      NOT NULL,  -- refused
    hold       text[]      NOT NULL,  -- stored hidden, queued for review
    -- Counts the changes (WortfilterGeaendert carries it): a process that compiled version n
    -- knows whether a change it hears of is newer.
    version    bigint      NOT NULL,
    updated_at timestamptz            -- NULL: never changed
);
INSERT INTO wortfilter (words, hold, version) VALUES ('{}', '{}', 0);

-- +goose Down
DROP TABLE wortfilter;
