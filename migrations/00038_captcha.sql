-- The registration captcha (docs/MODERATION.md, "Protection at the edge"). Owned by
-- instance/captcha.
--
-- captcha_key is the HMAC key the challenges are signed with: made once, at random, by the
-- first replica that needs it, and read by all, so that a challenge one replica issued is
-- checked by any. captcha_spent holds the challenges solved and used, until they expire: a
-- solved challenge is good for one registration, on whichever replica it arrives.

-- +goose Up
CREATE TABLE captcha_key (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    key bytea   NOT NULL CHECK (length(key) = 32)
);

CREATE TABLE captcha_spent (
    challenge  text        PRIMARY KEY CHECK (challenge ~ '^[0-9a-f]{64}$'),
    expires_at timestamptz NOT NULL
);
CREATE INDEX captcha_spent_expires ON captcha_spent (expires_at);

-- +goose Down
DROP TABLE captcha_spent;
DROP TABLE captcha_key;
