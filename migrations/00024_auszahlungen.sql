-- Payouts for accepted Anträge, and the two columns of the Ortskonto's balance row that they
-- move. Owned by instance/ortskonto (auszahlung.go; see docs/ORTSKONTO.md, "Auszahlungen").

-- +goose Up
CREATE TABLE auszahlungen (
    id           uuid        PRIMARY KEY,
    -- One payout per Antrag, asked for when it is filed. The title is kept as the Antrag had
    -- it (Anträge are not edited), so that the journal and the slider need not read antraege.
    antrag_id    uuid        NOT NULL UNIQUE REFERENCES antraege (id),
    antrag_title text        NOT NULL,
    betrag_cents bigint      NOT NULL CHECK (betrag_cents BETWEEN 1 AND 100000000),
    status       text        NOT NULL CHECK (status IN ('beantragt', 'bewilligt', 'geleistet', 'abgebrochen', 'entfallen')),
    -- Whether the available balance covered the amount at the approval, as recorded then.
    gedeckt      boolean,
    note         text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CHECK ((gedeckt IS NULL) = (status IN ('beantragt', 'entfallen')))
);
CREATE INDEX auszahlungen_open ON auszahlungen (created_at, id) WHERE status IN ('beantragt', 'bewilligt');
CREATE INDEX auszahlungen_recent ON auszahlungen (updated_at DESC, id DESC) WHERE status NOT IN ('beantragt', 'bewilligt');

-- Approved and not yet paid (reserved), and paid: the balance is settled − reversed − paid, the
-- available balance that less reserved.
ALTER TABLE ortskonto
    ADD COLUMN reserved_cents bigint NOT NULL DEFAULT 0 CHECK (reserved_cents >= 0),
    ADD COLUMN paid_cents     bigint NOT NULL DEFAULT 0 CHECK (paid_cents >= 0);

-- A payout is booked once, when paid.
ALTER TABLE buchungen ADD CONSTRAINT buchungen_auszahlung_fk FOREIGN KEY (auszahlung_id) REFERENCES auszahlungen (id);
CREATE UNIQUE INDEX buchungen_auszahlung ON buchungen (auszahlung_id) WHERE auszahlung_id IS NOT NULL;

-- +goose Down
DROP INDEX buchungen_auszahlung;
ALTER TABLE buchungen DROP CONSTRAINT buchungen_auszahlung_fk;
ALTER TABLE ortskonto DROP COLUMN paid_cents, DROP COLUMN reserved_cents;
DROP TABLE auszahlungen;
