-- Devices that logged in to an address before. Owned by instance/account.

-- +goose Up
-- A successful login gives the client a device token (a cookie, see instance/account/device.go);
-- a login that carries it back is counted per device, not per network, and is exempt from the
-- lock across all networks that a stranger can hold. Only a SHA-256 of the token is stored, under
-- the key of the address it logged in to (account.EmailKey). Security state like sessions, not an
-- event.
CREATE TABLE login_devices (
    token_hash   bytea       PRIMARY KEY,
    email_key    bytea       NOT NULL,
    last_used_at timestamptz NOT NULL
);
CREATE INDEX login_devices_address ON login_devices (email_key, last_used_at);
CREATE INDEX login_devices_last ON login_devices (last_used_at);

-- +goose Down
DROP TABLE login_devices;
