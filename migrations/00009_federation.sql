-- Federation: keys of local actors, what we know of remote actors, follows, the inbox's memory,
-- delivery health, and what neighbouring Ortswebereien sent us. Owned by federation/.

-- +goose Up

-- A stable handle for every account: its ActivityPub preferredUsername (jana.weber@host).
-- Drawn once from the name at registration and never changed, so the address stays valid.
ALTER TABLE accounts ADD COLUMN handle text;
UPDATE accounts SET handle = 'g' || substr(replace(id::text, '-', ''), 21, 12) WHERE handle IS NULL;
ALTER TABLE accounts ALTER COLUMN handle SET NOT NULL;
CREATE UNIQUE INDEX accounts_handle ON accounts (lower(handle));

-- Followers' outboxes read the public log by actor and by subject.
CREATE INDEX events_public_actor ON events (actor_id, tx, id) WHERE public AND actor_id IS NOT NULL;
CREATE INDEX events_public_subject ON events (subject_id, tx, id) WHERE public AND subject_id IS NOT NULL;

-- Keys of local actors: RSA for HTTP signatures, Ed25519 for object integrity proofs.
CREATE TABLE ap_keys (
    actor           text        PRIMARY KEY,  -- the actor's IRI path, e.g. /ap/users/jana.weber
    rsa_private_pem text        NOT NULL,
    ed25519_seed    bytea       NOT NULL,
    created_at      timestamptz NOT NULL
);

-- Remote actors we have fetched (keys cached; refetched on a verification failure).
CREATE TABLE ap_actors (
    iri                text        PRIMARY KEY,
    host               text        NOT NULL,
    type               text        NOT NULL,
    preferred_username text        NOT NULL DEFAULT '',
    name               text        NOT NULL DEFAULT '',
    inbox              text        NOT NULL,
    shared_inbox       text,
    key_id             text,
    public_key_pem     text,
    multikeys          jsonb       NOT NULL DEFAULT '[]',
    ortsweberei        text,                  -- a Weltgewebe resident's or Antrag's Group
    verified           boolean     NOT NULL DEFAULT false,
    fetched_at         timestamptz NOT NULL
);

-- Who follows which local actor: the Ortsweberei ('ortsweberei'), an Antrag ('antrag:<id>').
CREATE TABLE ap_followers (
    local      text        NOT NULL,
    follower   text        NOT NULL REFERENCES ap_actors (iri) ON DELETE CASCADE,
    follow_id  text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (local, follower)
);

-- Remote actors our Ortsweberei follows: neighbouring Ortswebereien.
CREATE TABLE ap_following (
    remote     text        PRIMARY KEY REFERENCES ap_actors (iri) ON DELETE CASCADE,
    follow_id  text        NOT NULL,
    accepted   boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);

-- Activity ids the inbox has taken, so a replay is not processed twice.
CREATE TABLE ap_inbox_seen (
    activity_id text        PRIMARY KEY,
    received_at timestamptz NOT NULL
);
CREATE INDEX ap_inbox_seen_received ON ap_inbox_seen (received_at);

-- Defederated domains: nothing from them is stored.
CREATE TABLE ap_domain_blocks (
    domain     text        PRIMARY KEY,
    created_at timestamptz NOT NULL
);

-- Delivery health per host: a host that keeps failing is paused, not hammered.
CREATE TABLE ap_hosts (
    host         text        PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0,
    paused_until timestamptz,
    last_error   text,
    updated_at   timestamptz NOT NULL
);

-- Anträge of neighbouring Ortswebereien, read-only here.
CREATE TABLE remote_antraege (
    id                uuid        PRIMARY KEY,   -- our id for the API
    iri               text        NOT NULL UNIQUE,
    origin            text        NOT NULL,      -- host of the Ortsweberei it belongs to
    ortsweberei       text        NOT NULL,      -- that Ortsweberei's Group
    actor             text        NOT NULL,      -- the Antrag's own actor
    applicant         text        NOT NULL,
    applicant_name    text        NOT NULL DEFAULT '',
    title             text        NOT NULL,
    details_html      text        NOT NULL,
    amount_cents      bigint,
    status            text        NOT NULL,
    opened_at         timestamptz NOT NULL,
    decision_deadline timestamptz NOT NULL,
    extended          boolean     NOT NULL DEFAULT false,
    opens_at          timestamptz,
    closes_at         timestamptz,
    closed_at         timestamptz,
    outcome           text,
    origin_yes        integer,                   -- the count the origin announced at the close
    origin_no         integer,
    origin_abstain    integer,
    source_updated    timestamptz NOT NULL,          -- the origin's "updated": older states never overwrite newer
    updated_at        timestamptz NOT NULL
);
CREATE INDEX remote_antraege_listing ON remote_antraege (status, opened_at DESC);

-- Stimmen on remote Anträge, each checked against its voter's key (FEP-8b32).
CREATE TABLE remote_stimmen (
    antrag     text        NOT NULL REFERENCES remote_antraege (iri) ON DELETE CASCADE,
    voter      text        NOT NULL,
    voter_name text        NOT NULL DEFAULT '',
    choice     text        NOT NULL CHECK (choice IN ('yes', 'no', 'abstain')),
    cast_at    timestamptz NOT NULL,
    object     text        NOT NULL,
    PRIMARY KEY (antrag, voter)
);

-- Einsprüche on remote Anträge.
CREATE TABLE remote_einsprueche (
    antrag      text        NOT NULL REFERENCES remote_antraege (iri) ON DELETE CASCADE,
    author      text        NOT NULL,
    author_name text        NOT NULL DEFAULT '',
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (antrag, author)
);

-- The delegations a remote Abstimmung's close counted with, each checked against its
-- delegator's key.
CREATE TABLE remote_delegationen (
    antrag    text NOT NULL REFERENCES remote_antraege (iri) ON DELETE CASCADE,
    delegator text NOT NULL,
    delegate  text NOT NULL,
    object    text NOT NULL,
    PRIMARY KEY (antrag, delegator)
);

-- Replies from the Fediverse to our Anträge: public comments. And poll votes from accounts
-- that are not residents here: shown, never counted.
CREATE TABLE antrag_kommentare (
    iri          text        PRIMARY KEY,
    antrag_id    uuid        NOT NULL REFERENCES antraege (id),
    author       text        NOT NULL,
    author_name  text        NOT NULL DEFAULT '',
    content_html text        NOT NULL,
    published    timestamptz NOT NULL
);
CREATE INDEX antrag_kommentare_antrag ON antrag_kommentare (antrag_id, published);

CREATE TABLE antrag_fremdstimmen (
    antrag_id uuid        NOT NULL REFERENCES antraege (id),
    voter     text        NOT NULL,
    choice    text        NOT NULL,
    at        timestamptz NOT NULL,
    PRIMARY KEY (antrag_id, voter)
);

-- +goose Down
DROP TABLE antrag_fremdstimmen;
DROP TABLE antrag_kommentare;
DROP TABLE remote_delegationen;
DROP TABLE remote_einsprueche;
DROP TABLE remote_stimmen;
DROP TABLE remote_antraege;
DROP TABLE ap_hosts;
DROP TABLE ap_domain_blocks;
DROP TABLE ap_inbox_seen;
DROP TABLE ap_following;
DROP TABLE ap_followers;
DROP TABLE ap_actors;
DROP TABLE ap_keys;
DROP INDEX events_public_subject;
DROP INDEX events_public_actor;
DROP INDEX accounts_handle;
ALTER TABLE accounts DROP COLUMN handle;
