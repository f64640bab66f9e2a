-- The Ortskonto, the Ortsweberei's community account: its bank settings and balance, the
-- donations with their status, the idempotency keys of POST /api/spenden and the booking
-- journal. Owned by instance/ortskonto (see docs/ORTSKONTO.md).

-- +goose Up

-- One row: the bank settings (NULL until an admin sets them) and the balance, a projection
-- updated in the same transaction as every event that moves money, so that reading the
-- balance never sums the journal.
CREATE TABLE ortskonto (
    singleton       boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    empfaenger      text,
    iban            text,
    bic             text,
    lat             double precision,
    lon             double precision,
    position_h3     bigint,
    configured_at   timestamptz,
    settled_cents   bigint      NOT NULL DEFAULT 0 CHECK (settled_cents >= 0),
    reversed_cents  bigint      NOT NULL DEFAULT 0 CHECK (reversed_cents >= 0),
    pending_cents   bigint      NOT NULL DEFAULT 0 CHECK (pending_cents >= 0),  -- initiated + pending
    initiated_count integer     NOT NULL DEFAULT 0 CHECK (initiated_count >= 0),
    pending_count   integer     NOT NULL DEFAULT 0 CHECK (pending_count >= 0),
    settled_count   integer     NOT NULL DEFAULT 0 CHECK (settled_count >= 0),
    failed_count    integer     NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    reversed_count  integer     NOT NULL DEFAULT 0 CHECK (reversed_count >= 0),
    -- Money reversed can only be money settled before.
    CHECK (reversed_cents <= settled_cents),
    CHECK ((empfaenger IS NULL) = (iban IS NULL))
);
INSERT INTO ortskonto DEFAULT VALUES;

CREATE TABLE spenden (
    id           uuid        PRIMARY KEY,
    account_id   uuid        NOT NULL REFERENCES accounts (id),
    -- The Verwendungszweck, WG-XXXXX-XXXXX (Crockford base32). Matched without its hyphens.
    reference    text        NOT NULL CHECK (reference ~ '^WG-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$'),
    amount_cents bigint      NOT NULL CHECK (amount_cents BETWEEN 1 AND 100000000),
    currency     text        NOT NULL DEFAULT 'EUR' CHECK (currency = 'EUR'),
    visible      boolean     NOT NULL,
    message      text        NOT NULL DEFAULT '',
    status       text        NOT NULL CHECK (status IN ('initiated', 'pending', 'settled', 'failed', 'reversed')),
    note         text        NOT NULL DEFAULT '',  -- the treasurer's note on the last transition
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX spenden_reference ON spenden ((replace(reference, '-', '')));
-- No index names status, note or updated_at, the columns a step changes: each step is then a
-- HOT update (no index entries written; the fillfactor leaves room on the page for it), which
-- is most of what a step costs beyond its event. The treasurer's list by status walks the
-- newest first (spenden_created) and stops at a page's worth.
CREATE INDEX spenden_account ON spenden (account_id, created_at DESC, id DESC);
CREATE INDEX spenden_created ON spenden (created_at DESC, id DESC);
-- The Goldfäden of GET /api/konto: the last visible donations (the few failed ones skipped).
CREATE INDEX spenden_goldfaeden ON spenden (created_at DESC, id DESC) WHERE visible;
ALTER TABLE spenden SET (fillfactor = 80);

-- Idempotency-Key of POST /api/spenden, per account. The row is inserted in the donation's own
-- transaction, so that two requests with one key resolve to one donation; answer is the first
-- answer, returned again to a retry.
CREATE TABLE spenden_idempotenz (
    account_id   uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    spende_id    uuid        NOT NULL REFERENCES spenden (id) DEFERRABLE INITIALLY DEFERRED,
    answer       jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id, key)
);

-- The booking journal: one row per money movement that changes the balance (append-only).
-- seq is the Belegnummer. A donation is booked once when settled (+) and once when reversed
-- (−); payouts are booked by instance/auszahlung's rows (kind 'auszahlung', −).
CREATE TABLE buchungen (
    seq           bigserial   PRIMARY KEY,
    booked_at     timestamptz NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('spende', 'storno', 'auszahlung')),
    amount_cents  bigint      NOT NULL CHECK (CASE WHEN kind = 'spende' THEN amount_cents > 0 ELSE amount_cents < 0 END),
    spende_id     uuid        REFERENCES spenden (id),
    auszahlung_id uuid,
    reference     text        NOT NULL DEFAULT '',
    CHECK ((kind IN ('spende', 'storno')) = (spende_id IS NOT NULL))
);
CREATE INDEX buchungen_booked_at ON buchungen (booked_at, seq);
-- No donation is counted twice: one booking of each kind at most.
CREATE UNIQUE INDEX buchungen_spende ON buchungen (spende_id, kind) WHERE spende_id IS NOT NULL;

-- +goose Down
DROP TABLE buchungen;
DROP TABLE spenden_idempotenz;
DROP TABLE spenden;
DROP TABLE ortskonto;
