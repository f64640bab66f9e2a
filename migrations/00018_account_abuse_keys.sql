-- The lockout's two counts and the mail outbox's retention. Owned by instance/account.

-- +goose Up
-- The lockout counts logins without success twice (see instance/account/lockout.go): per
-- address and client network, and per address across all clients. Each row is one count under
-- a SHA-256 key: of the trimmed, lower-cased address, or of that and the client's network. The
-- counts so far were kept per address alone and mean neither: they are dropped, so every count
-- starts again once, at the upgrade.
DELETE FROM login_failures;
ALTER TABLE login_failures RENAME COLUMN email_key TO key;

-- Nothing looks mail up by address; the retention sweep deletes it by age.
DROP INDEX mail_outbox_to;
CREATE INDEX mail_outbox_created ON mail_outbox (created_at);

-- +goose Down
DROP INDEX mail_outbox_created;
CREATE INDEX mail_outbox_to ON mail_outbox (lower(to_address));
DELETE FROM login_failures;
ALTER TABLE login_failures RENAME COLUMN key TO email_key;
