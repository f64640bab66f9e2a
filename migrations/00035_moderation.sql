-- Moderation (docs/MODERATION.md): the account sanctions (owned by instance/account: the columns
-- on accounts and account_verwarnungen) and the reports, the public log and the address blocks
-- (owned by instance/moderation).

-- +goose Up

-- A suspension holds until suspended_until; a ban (banned_at) for good. Both are lifted by
-- setting them NULL again; sanction_reason is the reason of the one in force.
ALTER TABLE accounts
    ADD COLUMN suspended_until timestamptz,
    ADD COLUMN banned_at       timestamptz,
    ADD COLUMN sanction_reason text,
    ADD COLUMN sanction_ref    uuid;  -- the moderation log entry of the sanction in force

-- Warnings the account sees on GET /api/me.
CREATE TABLE account_verwarnungen (
    id         uuid        PRIMARY KEY,
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    by_id      uuid        NOT NULL,
    reason     text        NOT NULL,
    at         timestamptz NOT NULL,
    ref        uuid        -- the moderation log entry
);
CREATE INDEX account_verwarnungen_account ON account_verwarnungen (account_id, at);

-- Reports (Meldungen): from residents, from Fediverse servers (Flag), from the word filter,
-- and the appeals (source 'appeal', target ('log', <entry id>)).
CREATE TABLE moderation_meldungen (
    id              uuid        PRIMARY KEY,
    target_kind     text        NOT NULL,
    target_id       text        NOT NULL,
    reason          text        NOT NULL,
    source          text        NOT NULL CHECK (source IN ('resident', 'fediverse', 'wortfilter', 'appeal')),
    reporter_id     uuid,       -- a local reporter (resident, appeal); private, never in the log
    reporter_actor  text,       -- the reporting server's actor (fediverse)
    created_at      timestamptz NOT NULL,
    state           text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved', 'dismissed')),
    decided_by      uuid,
    decision_reason text,
    decided_at      timestamptz,
    forwarded_at    timestamptz
);
CREATE INDEX moderation_meldungen_state ON moderation_meldungen (state, id DESC);
-- One open report per reporter and target: a second is answered with the first.
CREATE UNIQUE INDEX moderation_meldungen_once ON moderation_meldungen (reporter_id, target_kind, target_id)
    WHERE state = 'open' AND reporter_id IS NOT NULL;
-- One open word-filter report per target.
CREATE UNIQUE INDEX moderation_meldungen_held ON moderation_meldungen (target_kind, target_id)
    WHERE state = 'open' AND source = 'wortfilter';

-- The public moderation log: one row per action. The reporter is never here.
CREATE TABLE moderation_log (
    id                uuid        PRIMARY KEY,
    at                timestamptz NOT NULL,
    action            text        NOT NULL,
    target_kind       text        NOT NULL,
    target_id         text        NOT NULL,
    moderator_id      uuid        NOT NULL,
    reason            text        NOT NULL,
    until             timestamptz,
    meldung_id        uuid,       -- the report it answered (not shown publicly)
    subject_id        uuid,       -- the local account affected (the author, the sanctioned): who may appeal
    undoes            uuid,       -- an upheld appeal's undoing entry names the entry it undoes
    appeal_id         uuid,       -- the appeal (a moderation_meldungen row), once filed
    appeal_state      text        CHECK (appeal_state IN ('open', 'upheld', 'rejected')),
    appeal_decided_by uuid,
    appeal_reason     text
);
CREATE INDEX moderation_log_id ON moderation_log (id DESC);

-- Address blocks: writes and registrations from the range are refused.
CREATE TABLE moderation_ipsperren (
    id         uuid        PRIMARY KEY,
    cidr       cidr        NOT NULL,
    reason     text        NOT NULL,
    by_id      uuid        NOT NULL,
    created_at timestamptz NOT NULL,
    until      timestamptz,  -- NULL: until lifted
    lifted_at  timestamptz
);

-- +goose Down
DROP TABLE moderation_ipsperren;
DROP TABLE moderation_log;
DROP TABLE moderation_meldungen;
DROP TABLE account_verwarnungen;
ALTER TABLE accounts DROP COLUMN suspended_until, DROP COLUMN banned_at, DROP COLUMN sanction_reason, DROP COLUMN sanction_ref;
