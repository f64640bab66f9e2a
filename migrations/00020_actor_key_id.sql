-- Remote keys are looked up by their id (federation/keyresolve.go): a sender accepted once is
-- known by the key id stored with its actor, after a restart or when the keys held in memory
-- have expired, without fetching its key document again. Owned by federation.

-- +goose Up
CREATE INDEX ap_actors_key_id ON ap_actors (key_id) WHERE key_id IS NOT NULL;

-- +goose Down
DROP INDEX ap_actors_key_id;
