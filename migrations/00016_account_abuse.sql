-- The login lockout and the mail outbox. Owned by instance/account.
--
-- Neither is an event (see docs/ARCHITECTURE.md): failed logins are security state like
-- sessions, and a mail holds an address and what the instance told it.

-- +goose Up
-- Logins without success, per address typed (known or not), for the lockout. The key is a
-- SHA-256 of the trimmed, lower-cased address, so no address that was only typed is stored.
CREATE TABLE login_failures (
    email_key    bytea       PRIMARY KEY,
    attempts     integer     NOT NULL,
    last_at      timestamptz NOT NULL,
    locked_until timestamptz
);
CREATE INDEX login_failures_last ON login_failures (last_at);

-- Mail waiting for a sender (there is no mail server yet: see account.Outbox).
CREATE TABLE mail_outbox (
    id         uuid        PRIMARY KEY,
    to_address text        NOT NULL,
    subject    text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at    timestamptz
);
CREATE INDEX mail_outbox_to ON mail_outbox (lower(to_address));

-- +goose Down
DROP TABLE mail_outbox;
DROP TABLE login_failures;
