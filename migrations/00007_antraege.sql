-- Anträge and Einsprüche. Owned by instance/antrag.

-- +goose Up
CREATE TABLE antraege (
    id                uuid        PRIMARY KEY,
    applicant_id      uuid        NOT NULL REFERENCES accounts (id),
    knoten_id         uuid        REFERENCES knoten (id),
    title             text        NOT NULL,
    details_md        text        NOT NULL,
    amount_cents      bigint      CHECK (amount_cents >= 0),
    opened_at         timestamptz NOT NULL,
    decision_deadline timestamptz NOT NULL,
    extended          boolean     NOT NULL DEFAULT false,   -- the one extension by an Einspruch
    status            text        NOT NULL
        CHECK (status IN ('offen', 'abstimmung', 'angenommen', 'abgelehnt', 'zurueckgezogen')),
    decided_at        timestamptz,
    abstimmung_id     uuid        REFERENCES abstimmungen (id)
);
CREATE INDEX antraege_due ON antraege (decision_deadline) WHERE status = 'offen';
CREATE INDEX antraege_listing ON antraege (status, opened_at DESC);
CREATE INDEX antraege_abstimmung ON antraege (abstimmung_id) WHERE abstimmung_id IS NOT NULL;

CREATE TABLE einsprueche (
    antrag_id  uuid        NOT NULL REFERENCES antraege (id),
    account_id uuid        NOT NULL REFERENCES accounts (id),
    reason     text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (antrag_id, account_id)
);

-- +goose Down
DROP TABLE einsprueche;
DROP TABLE antraege;
