-- The bank's statement entries the treasurer imported (CAMT.053), each stored once: importing
-- the same statement again finds its entries here and changes nothing. Owned by
-- instance/ortskonto (bank.go; docs/ORTSKONTO.md, "Bank").
--
-- Not events: these are the bank's records of the account (debtor names and IBANs included),
-- kept for the treasurer like the statement itself; what they cause (a donation settled or
-- reversed) is an event, appended in the import's transaction, and the import itself is one
-- (KontoauszugImportiert, counts only).

-- +goose Up
CREATE TABLE bankumsaetze (
    id            uuid        PRIMARY KEY,
    nr            bigserial   UNIQUE,               -- the order of import, for the treasurer's pages
    -- The statement's account (IBAN, or the bank's other id) and the entry's key on it: the
    -- bank's reference (AcctSvcrRef), or a hash of the entry's content when it gave none.
    konto         text        NOT NULL,
    entry_key     text        NOT NULL,
    -- 0: the whole entry; 1…n: the transactions of a batch entry, each matched on its own.
    part          integer     NOT NULL CHECK (part >= 0),
    statement_id  text        NOT NULL DEFAULT '',
    status        text        NOT NULL,             -- BOOK, PDNG, INFO as the bank sent it
    credit        boolean     NOT NULL,
    amount_cents  bigint      NOT NULL CHECK (amount_cents >= 0),
    currency      text        NOT NULL,
    booking_date  date,
    value_date    date,
    bank_ref      text        NOT NULL DEFAULT '',  -- AcctSvcrRef
    entry_ref     text        NOT NULL DEFAULT '',  -- NtryRef
    end_to_end_id text        NOT NULL DEFAULT '',
    remittance    text        NOT NULL DEFAULT '',  -- the Verwendungszweck
    debtor_name   text        NOT NULL DEFAULT '',
    debtor_iban   text        NOT NULL DEFAULT '',
    result        text        NOT NULL CHECK (result IN ('settled', 'pending', 'reversed', 'unmatched', 'ignored')),
    reason        text        NOT NULL DEFAULT '',
    spende_id     uuid        REFERENCES spenden (id),
    imported_at   timestamptz NOT NULL,
    imported_by   uuid        NOT NULL REFERENCES accounts (id),
    UNIQUE (konto, entry_key, part)
);
-- The treasurer's list of what the import could not match, newest first.
CREATE INDEX bankumsaetze_unmatched ON bankumsaetze (nr) WHERE result = 'unmatched';

-- +goose Down
DROP TABLE bankumsaetze;
