-- Spinning a Faden as one statement (knoten.Service.Spin and SpinTx; docs/BENCHMARKS.md
-- "Appends with projection updates"). Owned by instance/knoten, tested there
-- (instance/knoten/spin_test.go).
--
-- A resident's tap on a Knoten used to cost two round trips: the Knoten's update (its row
-- lock and the check that it is still on the map) had to be answered before the Faden and its
-- event were sent. In one statement the check, the Knoten's update and the Faden travel
-- together with the event's INSERT and the commit: a refusal raises an error, which aborts the
-- transaction before anything is written, and says why (the error code the API answers with),
-- so that no second query is needed either.
--
-- knoten_spin is the rule that decides whether a Faden may be spun, in the order
-- knoten.getKnoten answers reads: an unknown Knoten, then a hidden one (hidden_at, the
-- package's `shown`), then a dissolved one (the package's `alive` at p_now). On success it
-- updates the Knoten (its activity, its Garn count, when it dissolves: a Faden keeps it alive
-- at least until the Faden expires, Garn makes it permanent), inserts the Faden, and leaves
-- the Knoten's cell for the event (eventstore.TxCellSetting) and as its result.
--
-- p_raise: true raises the refusal (SQLSTATE WGF01, the message the error code: for a command
-- sent in one trip); false returns it in `refused` with a NULL cell and writes nothing, for a
-- caller whose own transaction goes on after a refusal (a vote spins a Faden only if its
-- Knoten takes one).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION knoten_spin(
    p_faden   uuid,
    p_knoten  uuid,
    p_account uuid,
    p_type    text,
    p_twisted boolean,
    p_now     timestamptz,
    p_expires timestamptz,  -- NULL when spun as Garn
    p_raise   boolean,
    OUT cell bigint, OUT refused text
) LANGUAGE plpgsql AS $$
DECLARE
    garn    integer := CASE WHEN p_twisted THEN 1 ELSE 0 END;
    alive   boolean;
    hidden  boolean;
BEGIN
    -- The update takes the Knoten's row lock first, which orders every write about its Fäden
    -- (knoten.lockKnoten), and checks it in the same step.
    UPDATE knoten SET last_activity_at = p_now,
           garn_count = garn_count + garn,
           dissolves_at = CASE WHEN garn_count + garn > 0 THEN NULL ELSE greatest(dissolves_at, p_expires) END
     WHERE id = p_knoten AND dissolved_at IS NULL AND (dissolves_at IS NULL OR dissolves_at > p_now) AND hidden_at IS NULL
    RETURNING h3 INTO cell;
    IF NOT FOUND THEN
        SELECT k.dissolved_at IS NULL AND (k.dissolves_at IS NULL OR k.dissolves_at > p_now), k.hidden_at IS NOT NULL
          INTO alive, hidden FROM knoten k WHERE k.id = p_knoten;
        refused := CASE WHEN NOT FOUND THEN 'knoten_not_found' WHEN hidden THEN 'knoten_hidden'
                        WHEN NOT alive THEN 'knoten_dissolved'
                        -- Neither: it changed between the two reads (shown again); the caller
                        -- may try again.
                        ELSE 'knoten_changed' END;
        IF p_raise THEN
            RAISE EXCEPTION '%', refused USING ERRCODE = 'WGF01';
        END IF;
        RETURN;
    END IF;
    INSERT INTO faeden (id, knoten_id, account_id, type, twisted, created_at, expires_at)
    VALUES (p_faden, p_knoten, p_account, p_type, p_twisted, p_now, p_expires);
    PERFORM set_config('eventstore.cell', cell::text, true);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION knoten_spin;
