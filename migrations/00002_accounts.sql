-- Accounts (Garnrollen) and their sessions. Owned by instance/account.

-- +goose Up
CREATE TABLE accounts (
    id                uuid        PRIMARY KEY,
    name              text        NOT NULL,
    email             text        NOT NULL,
    password_hash     text        NOT NULL,
    is_admin          boolean     NOT NULL DEFAULT false,
    -- Private forever: never in a public response, never in an event payload.
    address           text,
    home              geometry(Point, 4326),
    -- The public map position: drawn once, uniformly inside position_radius_m around home, and
    -- kept until the home or the radius changes, so repeated draws cannot be intersected. It is
    -- kept while the account is hidden (on_map false), so showing it again reveals nothing new.
    position_radius_m integer     NOT NULL DEFAULT 250 CHECK (position_radius_m BETWEEN 50 AND 5000),
    on_map            boolean     NOT NULL DEFAULT true,
    position          geometry(Point, 4326),
    position_h3       bigint,
    verified_at       timestamptz,
    verified_by       uuid REFERENCES accounts (id),
    created_at        timestamptz NOT NULL
);
CREATE UNIQUE INDEX accounts_email ON accounts (lower(email));
CREATE INDEX accounts_position ON accounts USING gist (position) WHERE on_map AND position IS NOT NULL;

-- Sessions are access credentials, not part of the civic record: they are not events (see
-- docs/ARCHITECTURE.md). Only a hash of the token is stored.
CREATE TABLE sessions (
    token_hash bytea       PRIMARY KEY,
    account_id uuid        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- +goose Down
DROP TABLE sessions;
DROP TABLE accounts;
