-- Delegationen of votes, and the activity that keeps them alive. Owned by instance/delegation.

-- +goose Up
CREATE TABLE delegationen (
    id              uuid        PRIMARY KEY,
    from_id         uuid        NOT NULL REFERENCES accounts (id),
    to_id           uuid        NOT NULL REFERENCES accounts (id),
    state           text        NOT NULL CHECK (state IN ('pending', 'active', 'ended')),
    requested_at    timestamptz NOT NULL,
    request_seq     bigint      GENERATED ALWAYS AS IDENTITY,  -- the fixed order within a batch
    effective_at    timestamptz NOT NULL,  -- the daily batch at which it takes (took) effect
    ends_at         timestamptz,           -- a requested revocation: the batch at which it ends
    idle_expires_at timestamptz,           -- while active: the delegator's last write + 28 days
    ended_at        timestamptz,
    end_reason      text CHECK (end_reason IN ('withdrawn', 'superseded', 'revoked', 'replaced',
                                               'expired', 'cycle', 'not_eligible')),
    CHECK (from_id <> to_id)
);
CREATE UNIQUE INDEX delegationen_one_active ON delegationen (from_id) WHERE state = 'active';
CREATE UNIQUE INDEX delegationen_one_pending ON delegationen (from_id) WHERE state = 'pending';
CREATE INDEX delegationen_to ON delegationen (to_id) WHERE state <> 'ended';
CREATE INDEX delegationen_pending ON delegationen (effective_at) WHERE state = 'pending';
CREATE INDEX delegationen_revocations ON delegationen (ends_at) WHERE state = 'active' AND ends_at IS NOT NULL;
CREATE INDEX delegationen_idle ON delegationen (idle_expires_at) WHERE state = 'active';

-- The last write of each account (any event it is the actor of), caught up from the event log.
CREATE TABLE account_activity (
    account_id    uuid        PRIMARY KEY,
    last_write_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE account_activity;
DROP TABLE delegationen;
