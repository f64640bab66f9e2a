-- Moderation, round two (docs/MODERATION.md).
--
-- accounts (owned by instance/account): a ban and a suspension are lifted each on its own, so
-- each keeps its own reason and log entry. suspension_reason and suspension_ref are the
-- suspension's; sanction_reason and sanction_ref stay the sanction in force (the ban's while
-- banned, else the suspension's), which the account is shown. The suspensions of accounts
-- banned before this migration kept no reason of their own: it is read back from their entry
-- in the moderation log.
--
-- faeden (owned by instance/knoten): the hidden Fäden, for knoten.Service.HiddenAll, which
-- every process reads at start and after each hide (the timeline's hidden set). Without it
-- that read scanned every Faden ever spun; hidden ones are a few rows. The Fäden of a hidden
-- Knoten, expired ones too, are reached from the few hidden Knoten through faeden_knoten, which
-- therefore now holds every Faden, keyed (knoten_id, expired_at): a Knoten's active Fäden are
-- still one index range (expired_at IS NULL), and a Faden still costs one entry in it. (A
-- second, full index on knoten_id would cost every spin one more entry; an expiry is no HOT
-- update anyway, faeden_due's predicate names expired_at.)

-- +goose Up
ALTER TABLE accounts ADD COLUMN suspension_reason text, ADD COLUMN suspension_ref uuid;
UPDATE accounts SET suspension_reason = sanction_reason, suspension_ref = sanction_ref
WHERE suspended_until IS NOT NULL AND banned_at IS NULL;
UPDATE accounts a SET suspension_reason = l.reason, suspension_ref = l.id
FROM (SELECT DISTINCT ON (target_id) target_id, id, reason FROM moderation_log
      WHERE action = 'suspend' AND target_kind = 'account' ORDER BY target_id, id DESC) l
WHERE a.banned_at IS NOT NULL AND a.suspended_until IS NOT NULL AND l.target_id = a.id::text;

CREATE INDEX faeden_hidden ON faeden (id) WHERE hidden_at IS NOT NULL;
DROP INDEX faeden_knoten;
CREATE INDEX faeden_knoten ON faeden (knoten_id, expired_at);

-- +goose Down
DROP INDEX faeden_knoten;
CREATE INDEX faeden_knoten ON faeden (knoten_id) WHERE expired_at IS NULL;
DROP INDEX faeden_hidden;
ALTER TABLE accounts DROP COLUMN suspension_ref, DROP COLUMN suspension_reason;
