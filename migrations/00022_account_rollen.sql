-- Roles an admin gives to accounts: today only the Kassenwart (treasurer), who confirms the
-- Ortskonto's money. Owned by instance/account. A list, not a column: more roles will follow
-- (a moderator), and an account may hold several.

-- +goose Up
CREATE TABLE account_rollen (
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- Which names are roles is the account package's rule (account.Roles), not the schema's:
    -- a new role is a code change, not a migration.
    rolle      text        NOT NULL CHECK (rolle <> ''),
    granted_by uuid        REFERENCES accounts (id) ON DELETE SET NULL,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, rolle)
);

-- +goose Down
DROP TABLE account_rollen;
