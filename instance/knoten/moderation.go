package knoten

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
)

// The map's content as the moderators see it (moderation.Content; docs/MODERATION.md, "What
// hiding does to the map"). Hiding sets hidden_at and appends KnotenVerborgen or
// FadenVerborgen; every public read leaves hidden rows out (shown, mapFaeden, activeFaden),
// and the followers of the log — the live map, the snapshots, the timeline's replay — drop
// the object when they read the event. A hidden Knoten takes its Fäden with it; showing it
// again brings back those that are still active and were not hidden on their own.

// Moderation returns the map's moderation.Content. publicURL is the instance's public URL
// (no trailing slash), under which a Knoten's and a Faden's URLs are recognised as targets.
func (s *Service) Moderation(publicURL string) moderation.Content {
	return content{s: s, base: strings.TrimSuffix(publicURL, "/")}
}

type content struct {
	s    *Service
	base string
}

func (content) Kinds() []string { return []string{moderation.KindKnoten, moderation.KindFaden} }

// The paths under which this instance shows a Knoten or a Faden: the Fediverse's objects
// (federation/internal/iri) and the API's. The web app has no page of its own for one.
var (
	knotenPaths = []string{"/ap/knoten/", "/api/knoten/"}
	fadenPaths  = []string{"/ap/faeden/"}
)

// Resolve reads a bare uuid of a Knoten or a Faden, or one of their URLs on this instance.
// A uuid that is neither is not the map's (another package may own it).
func (c content) Resolve(ctx context.Context, q database.Querier, ref string) (moderation.Target, bool, error) {
	ref = strings.TrimSpace(ref)
	kinds := []string{moderation.KindKnoten, moderation.KindFaden}
	if u, err := url.Parse(ref); err == nil && u.Scheme != "" {
		id, kind, ok := c.pathID(u)
		if !ok {
			return moderation.Target{}, false, nil
		}
		ref, kinds = id, []string{kind}
	}
	id, err := uuid.Parse(ref)
	if err != nil || len(ref) != 36 { // only the plain form: a urn or braces is no id we hand out
		return moderation.Target{}, false, nil
	}
	for _, kind := range kinds {
		table := "knoten"
		if kind == moderation.KindFaden {
			table = "faeden"
		}
		var exists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE id = $1)`, id).Scan(&exists); err != nil {
			return moderation.Target{}, false, fmt.Errorf("knoten: resolve: %w", err)
		}
		if exists {
			return moderation.Target{Kind: kind, ID: id.String()}, true, nil
		}
	}
	return moderation.Target{}, false, nil
}

// pathID reads the id out of one of our URLs of a Knoten or a Faden (query and fragment
// ignored, a trailing slash allowed).
func (c content) pathID(u *url.URL) (id, kind string, ok bool) {
	base, err := url.Parse(c.base)
	if err != nil || !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) {
		return "", "", false
	}
	p, ok := strings.CutPrefix(strings.TrimSuffix(u.Path, "/"), strings.TrimSuffix(base.Path, "/"))
	if !ok {
		return "", "", false
	}
	for kind, prefixes := range map[string][]string{moderation.KindKnoten: knotenPaths, moderation.KindFaden: fadenPaths} {
		for _, pre := range prefixes {
			if rest, ok := strings.CutPrefix(p, pre); ok && !strings.Contains(rest, "/") {
				return rest, kind, true
			}
		}
	}
	return "", "", false
}

func targetID(t moderation.Target) (uuid.UUID, error) {
	id, err := uuid.Parse(t.ID)
	if err != nil {
		return uuid.Nil, moderation.ErrUnknownTarget
	}
	return id, nil
}

// Describe: a Knoten's title and description; a Faden's type and the title of its Knoten
// (a Faden has no text of its own).
func (c content) Describe(ctx context.Context, q database.Querier, t moderation.Target) (moderation.Summary, error) {
	id, err := targetID(t)
	if err != nil {
		return moderation.Summary{}, err
	}
	sum := moderation.Summary{Target: t}
	var author uuid.UUID
	switch t.Kind {
	case moderation.KindKnoten:
		var title, desc string
		err = q.QueryRow(ctx, `
SELECT k.title, k.description, k.created_by, a.name, k.hidden_at IS NOT NULL
FROM knoten k JOIN accounts a ON a.id = k.created_by WHERE k.id = $1`, id).Scan(&title, &desc, &author, &sum.AuthorName, &sum.Hidden)
		sum.Text = title
		if desc != "" {
			sum.Text += "\n\n" + desc
		}
		sum.URL = c.base + knotenPaths[0] + id.String()
	case moderation.KindFaden:
		var typ, title string
		err = q.QueryRow(ctx, `
SELECT f.type, k.title, f.account_id, a.name, f.hidden_at IS NOT NULL
FROM faeden f JOIN knoten k ON k.id = f.knoten_id JOIN accounts a ON a.id = f.account_id WHERE f.id = $1`, id).
			Scan(&typ, &title, &author, &sum.AuthorName, &sum.Hidden)
		sum.Text = typ + " → " + title
		sum.URL = c.base + fadenPaths[0] + id.String()
	default:
		return moderation.Summary{}, moderation.ErrUnknownTarget
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return moderation.Summary{}, moderation.ErrUnknownTarget
	}
	if err != nil {
		return moderation.Summary{}, fmt.Errorf("knoten: describe: %w", err)
	}
	sum.AuthorID = &author
	if utf8.RuneCountInString(sum.Text) > 500 {
		sum.Text = string([]rune(sum.Text)[:500])
	}
	return sum, nil
}

// HideTx hides a Knoten (with its Fäden) or a single Faden, or shows it again.
func (c content) HideTx(ctx context.Context, tx *database.Tx, t moderation.Target, hide bool, by uuid.UUID, _ string, at time.Time) error {
	id, err := targetID(t)
	if err != nil {
		return err
	}
	switch t.Kind {
	case moderation.KindKnoten:
		return hideKnoten(ctx, tx, id, hide, by, at)
	case moderation.KindFaden:
		return hideFaden(ctx, tx, id, hide, by, at)
	}
	return moderation.ErrUnknownTarget
}

// hideKnoten locks the Knoten (as every write about it does first) and changes its hidden
// state. The Fäden named are those a snapshot would hold of it: active, and not hidden on
// their own.
func hideKnoten(ctx context.Context, tx *database.Tx, id uuid.UUID, hide bool, by uuid.UUID, at time.Time) error {
	var cell int64
	var hidden bool
	err := tx.QueryRow(ctx, `SELECT h3, hidden_at IS NOT NULL FROM knoten WHERE id = $1 FOR UPDATE`, id).Scan(&cell, &hidden)
	if errors.Is(err, pgx.ErrNoRows) {
		return moderation.ErrUnknownTarget
	}
	if err != nil {
		return fmt.Errorf("knoten: hide: %w", err)
	}
	if hidden == hide {
		return nil
	}
	hdr := eventstore.Header{Actor: by, Subject: id, Cell: cell}
	if hide {
		var fs []uuid.UUID
		if err := dumpFaeden(ctx, tx, `knoten_id = $1`, []any{id}, func(f SnapshotFaden) error {
			fs = append(fs, f.ID)
			return nil
		}); err != nil {
			return err
		}
		tx.Defer(`UPDATE knoten SET hidden_at = $2 WHERE id = $1`, id, at)
		return eventstore.Append(tx, at, KnotenVerborgen.New(hdr, KnotenVerborgenV1{KnotenID: id, FadenIDs: fs}))
	}
	tx.Defer(`UPDATE knoten SET hidden_at = NULL WHERE id = $1`, id)
	p := KnotenWiederhergestelltV1{KnotenID: id, Faeden: []SnapshotFaden{}}
	if err := dumpKnoten(ctx, tx, false, []uuid.UUID{id}, func(k SnapshotKnoten) error { p.Knoten = k; return nil }); err != nil {
		return err
	}
	if err := dumpFaeden(ctx, tx, `knoten_id = $1`, []any{id}, func(f SnapshotFaden) error {
		p.Faeden = append(p.Faeden, f)
		return nil
	}); err != nil {
		return err
	}
	return eventstore.Append(tx, at, KnotenWiederhergestellt.New(hdr, p))
}

// hideFaden locks the Faden's Knoten, then the Faden (the order every write about Fäden
// takes), and changes the Faden's hidden state. Its Knoten's life is not changed: hiding is
// about what the public sees, not about the rules (a hidden Garn still holds its Knoten).
func hideFaden(ctx context.Context, tx *database.Tx, id uuid.UUID, hide bool, by uuid.UUID, at time.Time) error {
	var knotenID uuid.UUID
	err := tx.QueryRow(ctx, `SELECT knoten_id FROM faeden WHERE id = $1`, id).Scan(&knotenID)
	if errors.Is(err, pgx.ErrNoRows) {
		return moderation.ErrUnknownTarget
	}
	if err != nil {
		return fmt.Errorf("knoten: hide faden: %w", err)
	}
	var cell int64
	if err := tx.QueryRow(ctx, `SELECT h3 FROM knoten WHERE id = $1 FOR UPDATE`, knotenID).Scan(&cell); err != nil {
		return fmt.Errorf("knoten: hide faden: %w", err)
	}
	var hidden bool
	if err := tx.QueryRow(ctx, `SELECT hidden_at IS NOT NULL FROM faeden WHERE id = $1 FOR UPDATE`, id).Scan(&hidden); err != nil {
		return fmt.Errorf("knoten: hide faden: %w", err)
	}
	if hidden == hide {
		return nil
	}
	hdr := eventstore.Header{Actor: by, Subject: id, Cell: cell}
	if hide {
		tx.Defer(`UPDATE faeden SET hidden_at = $2 WHERE id = $1`, id, at)
		return eventstore.Append(tx, at, FadenVerborgen.New(hdr, FadenVerborgenV1{FadenID: id, KnotenID: knotenID}))
	}
	tx.Defer(`UPDATE faeden SET hidden_at = NULL WHERE id = $1`, id)
	p := FadenWiederhergestelltV1{FadenID: id, KnotenID: knotenID}
	if err := dumpFaeden(ctx, tx, `id = $1`, []any{id}, func(f SnapshotFaden) error { p.Faden = &f; return nil }); err != nil {
		return err
	}
	return eventstore.Append(tx, at, FadenWiederhergestellt.New(hdr, p))
}

var _ moderation.Content = content{}

// Hidden returns which of the ids — of Knoten or Fäden — the public may not see now: a hidden
// Knoten, and a Faden hidden on its own or with its Knoten. For readers of the public log
// (the federation's outbox) that must leave a hidden object's earlier events out; an unknown
// id is not in the answer.
func (s *Service) Hidden(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := map[uuid.UUID]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `
SELECT id FROM knoten WHERE id = ANY($1) AND hidden_at IS NOT NULL
UNION ALL
SELECT f.id FROM faeden f JOIN knoten k ON k.id = f.knoten_id
WHERE f.id = ANY($1) AND (f.hidden_at IS NOT NULL OR k.hidden_at IS NOT NULL)`, ids)
	if err != nil {
		return nil, fmt.Errorf("knoten: hidden: %w", err)
	}
	var id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { out[id] = true; return nil }); err != nil {
		return nil, fmt.Errorf("knoten: hidden: %w", err)
	}
	return out, nil
}

// hiddenAllSQL reads the hidden rows alone: the hidden Knoten (knoten_hidden), the Fäden
// hidden on their own (faeden_hidden) and every Faden of a hidden Knoten, expired ones too,
// from those few Knoten (faeden_knoten). One OR across the join would make the planner
// read every Faden ever spun (migration 00039).
const hiddenAllSQL = `
SELECT true, id FROM knoten WHERE hidden_at IS NOT NULL
UNION ALL (
SELECT false, id FROM faeden WHERE hidden_at IS NOT NULL
UNION
SELECT false, f.id FROM knoten k JOIN faeden f ON f.knoten_id = k.id WHERE k.hidden_at IS NOT NULL)`

// HiddenAll lists every Knoten and every Faden the public may not see now (as Hidden says of
// given ones): few, so that the timeline can keep them in memory rather than ask on every query.
func (s *Service) HiddenAll(ctx context.Context) (knoten, faeden []uuid.UUID, err error) {
	rows, err := s.pool.Query(ctx, hiddenAllSQL)
	if err != nil {
		return nil, nil, fmt.Errorf("knoten: hidden: %w", err)
	}
	var isKnoten bool
	var id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&isKnoten, &id}, func() error {
		if isKnoten {
			knoten = append(knoten, id)
		} else {
			faeden = append(faeden, id)
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("knoten: hidden: %w", err)
	}
	return knoten, faeden, nil
}
