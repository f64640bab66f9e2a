-- A donation's step by hand also completes its event's payload with the state before and the
-- amount (SpendeEingegangen/Gebucht/Fehlgeschlagen/Storniert v2), which only this function
-- knows in the step's one round trip: the timeline replays the Ortskonto's balance from the
-- events (instance/ortskonto/replay.go). Owned by instance/ortskonto. Otherwise as in 00026.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ortskonto_step(
    p_id      uuid,
    p_to      text,
    p_note    text,
    p_at      timestamptz,
    -- Arrays as their text (cheaper to send than to encode as arrays, for every step):
    p_from    text,      -- text[]: the states the machine allows the step from
    p_delta   text,      -- bigint[]: per state in p_from, 8 numbers: pending, settled, reversed (per
                         -- cent of the amount), then the changes of the five counts in the machine's order
    p_booking text,      -- the journal row the step writes: 'spende' (+amount), 'storno' (−amount) or NULL
    -- The donation as the step leaves it, with its donor's name.
    OUT id uuid, OUT reference text, OUT amount_cents bigint, OUT currency text, OUT visible boolean,
    OUT status text, OUT message text, OUT note text, OUT created_at timestamptz, OUT updated_at timestamptz,
    OUT account_id uuid, OUT account_name text
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    was    text;
    i      integer;
    d      bigint[];
    k_cell bigint;
BEGIN
    -- The balance row is locked first, as every write that takes both does (bank.go's import,
    -- lockSpende), so that a step by hand and an import never each hold what the other waits
    -- for. Every change of a donation's status holds it, so the donation is read without a lock
    -- of its own: the update below finds the status read (checked all the same — a writer that
    -- did not take the balance row would be a bug, and fails the step rather than miscount).
    SELECT o.position_h3 INTO k_cell FROM ortskonto o FOR UPDATE;
    SELECT s.id, s.reference, s.amount_cents, s.currency, s.visible, s.status, s.message, s.created_at, s.account_id, a.name
      INTO id, reference, amount_cents, currency, visible, was, message, created_at, account_id, account_name
      FROM spenden s JOIN accounts a ON a.id = s.account_id WHERE s.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ortskonto: no donation %', p_id USING ERRCODE = 'WGK04';
    END IF;
    i := array_position(p_from::text[], was);
    IF i IS NULL THEN
        RAISE EXCEPTION 'ortskonto: % → % is not a step', was, p_to USING ERRCODE = 'WGK09';
    END IF;
    d := (p_delta::bigint[])[(i - 1) * 8 + 1 : i * 8];
    UPDATE spenden SET status = p_to, note = p_note, updated_at = p_at WHERE spenden.id = p_id AND spenden.status = was;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ortskonto: donation % changed while stepping', p_id USING ERRCODE = '40001';
    END IF;
    UPDATE ortskonto SET pending_cents = pending_cents + d[1] * amount_cents,
           settled_cents = settled_cents + d[2] * amount_cents,
           reversed_cents = reversed_cents + d[3] * amount_cents,
           initiated_count = initiated_count + d[4], pending_count = pending_count + d[5],
           settled_count = settled_count + d[6], failed_count = failed_count + d[7],
           reversed_count = reversed_count + d[8];
    IF p_booking IS NOT NULL THEN
        INSERT INTO buchungen (booked_at, kind, amount_cents, spende_id, reference)
        VALUES (p_at, p_booking, CASE p_booking WHEN 'storno' THEN -amount_cents ELSE amount_cents END, id, reference);
    END IF;
    status := p_to;
    note := p_note;
    updated_at := p_at;
    -- The event's cell (eventstore.TxCellSetting): the Ortskonto's for a visible donation, none
    -- for an anonymous one.
    PERFORM set_config('eventstore.cell', CASE WHEN visible AND k_cell IS NOT NULL THEN k_cell::text ELSE '' END, true);
    -- The event's payload's state before and amount (eventstore.TxPayloadSetting): the
    -- balance's change is read from the event alone (the timeline's replay).
    PERFORM set_config('eventstore.payload', json_build_object('from', was, 'amount_cents', amount_cents)::text, true);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ortskonto_step(
    p_id      uuid,
    p_to      text,
    p_note    text,
    p_at      timestamptz,
    -- Arrays as their text (cheaper to send than to encode as arrays, for every step):
    p_from    text,      -- text[]: the states the machine allows the step from
    p_delta   text,      -- bigint[]: per state in p_from, 8 numbers: pending, settled, reversed (per
                         -- cent of the amount), then the changes of the five counts in the machine's order
    p_booking text,      -- the journal row the step writes: 'spende' (+amount), 'storno' (−amount) or NULL
    -- The donation as the step leaves it, with its donor's name.
    OUT id uuid, OUT reference text, OUT amount_cents bigint, OUT currency text, OUT visible boolean,
    OUT status text, OUT message text, OUT note text, OUT created_at timestamptz, OUT updated_at timestamptz,
    OUT account_id uuid, OUT account_name text
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    was    text;
    i      integer;
    d      bigint[];
    k_cell bigint;
BEGIN
    -- The balance row is locked first, as every write that takes both does (bank.go's import,
    -- lockSpende), so that a step by hand and an import never each hold what the other waits
    -- for. Every change of a donation's status holds it, so the donation is read without a lock
    -- of its own: the update below finds the status read (checked all the same — a writer that
    -- did not take the balance row would be a bug, and fails the step rather than miscount).
    SELECT o.position_h3 INTO k_cell FROM ortskonto o FOR UPDATE;
    SELECT s.id, s.reference, s.amount_cents, s.currency, s.visible, s.status, s.message, s.created_at, s.account_id, a.name
      INTO id, reference, amount_cents, currency, visible, was, message, created_at, account_id, account_name
      FROM spenden s JOIN accounts a ON a.id = s.account_id WHERE s.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ortskonto: no donation %', p_id USING ERRCODE = 'WGK04';
    END IF;
    i := array_position(p_from::text[], was);
    IF i IS NULL THEN
        RAISE EXCEPTION 'ortskonto: % → % is not a step', was, p_to USING ERRCODE = 'WGK09';
    END IF;
    d := (p_delta::bigint[])[(i - 1) * 8 + 1 : i * 8];
    UPDATE spenden SET status = p_to, note = p_note, updated_at = p_at WHERE spenden.id = p_id AND spenden.status = was;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ortskonto: donation % changed while stepping', p_id USING ERRCODE = '40001';
    END IF;
    UPDATE ortskonto SET pending_cents = pending_cents + d[1] * amount_cents,
           settled_cents = settled_cents + d[2] * amount_cents,
           reversed_cents = reversed_cents + d[3] * amount_cents,
           initiated_count = initiated_count + d[4], pending_count = pending_count + d[5],
           settled_count = settled_count + d[6], failed_count = failed_count + d[7],
           reversed_count = reversed_count + d[8];
    IF p_booking IS NOT NULL THEN
        INSERT INTO buchungen (booked_at, kind, amount_cents, spende_id, reference)
        VALUES (p_at, p_booking, CASE p_booking WHEN 'storno' THEN -amount_cents ELSE amount_cents END, id, reference);
    END IF;
    status := p_to;
    note := p_note;
    updated_at := p_at;
    -- The event's cell (eventstore.TxCellSetting): the Ortskonto's for a visible donation, none
    -- for an anonymous one.
    was := set_config('eventstore.cell', CASE WHEN visible AND k_cell IS NOT NULL THEN k_cell::text ELSE '' END, true);
END
$$;
-- +goose StatementEnd
