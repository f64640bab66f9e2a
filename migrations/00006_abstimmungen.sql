-- Abstimmungen (public, by-name votes) and their Stimmen. Owned by instance/abstimmung.

-- +goose Up
CREATE TABLE abstimmungen (
    id         uuid        PRIMARY KEY,
    subject_id uuid        NOT NULL,   -- what is voted on (an Antrag)
    knoten_id  uuid REFERENCES knoten (id), -- the subject's Knoten, if any: voters spin a Faden to it
    opens_at   timestamptz NOT NULL,
    closes_at  timestamptz NOT NULL,
    closed_at  timestamptz,            -- set when the close is recorded; nothing changes afterwards
    result     text CHECK (result IN ('angenommen', 'abgelehnt')),
    tally      jsonb,                  -- the count at the close, frozen
    CHECK ((closed_at IS NULL) = (result IS NULL) AND (closed_at IS NULL) = (tally IS NULL))
);
CREATE INDEX abstimmungen_due ON abstimmungen (closes_at) WHERE closed_at IS NULL;

-- The current Stimme of each voter.
CREATE TABLE stimmen (
    abstimmung_id uuid        NOT NULL REFERENCES abstimmungen (id),
    account_id    uuid        NOT NULL REFERENCES accounts (id),
    choice        text        NOT NULL CHECK (choice IN ('yes', 'no', 'abstain')),
    cast_at       timestamptz NOT NULL,
    changed_at    timestamptz NOT NULL,
    PRIMARY KEY (abstimmung_id, account_id)
);

-- Every cast and every change, in order: the public history of the vote.
CREATE TABLE stimmen_verlauf (
    abstimmung_id uuid        NOT NULL REFERENCES abstimmungen (id),
    seq           bigint      GENERATED ALWAYS AS IDENTITY,
    account_id    uuid        NOT NULL,
    choice        text        NOT NULL,
    at            timestamptz NOT NULL,
    PRIMARY KEY (abstimmung_id, seq)
);

-- +goose Down
DROP TABLE stimmen_verlauf;
DROP TABLE stimmen;
DROP TABLE abstimmungen;
