package blocks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/moderation"
)

// ErrBlocked: the domain is defederated.
var ErrBlocked = errors.New("federation: the domain is blocked")

// Forgetter removes, in a block's transaction, what a blocked domain sent or what names its
// actors. Each owner of such rows is one; the facade gives them in the order they run.
type Forgetter interface {
	ForgetDomainTx(ctx context.Context, tx *database.Tx, domain string) error
}

// Log writes an entry of the public moderation log (instance/moderation's LogActionTx) in the
// block's transaction: a domain blocked or unblocked is a moderation action the community
// sees, as an address block is.
type Log interface {
	LogActionTx(ctx context.Context, tx *database.Tx, by uuid.UUID, action string, target moderation.Target, reason string, at time.Time) error
}

// SetLog names, once at assembly, the moderation log blocks are entered in (nil: none).
func (b *Blocks) SetLog(l Log) { b.log = l }

// Afterwards is implemented by a Forgetter that has more to remove once the block committed:
// files, which no transaction takes back (the mirrored snapshots).
type Afterwards interface {
	ForgotDomain(domain string)
}

// SetForgetting names, once at construction, what a block removes (forget, in order, in the
// block's transaction) and what it drops from memory afterwards (drop).
func (b *Blocks) SetForgetting(drop func(domain string), forget ...Forgetter) {
	b.drop, b.forget = drop, forget
}

// Block defederates a domain (and its subdomains): nothing from it is stored afterwards, and
// what it already sent is removed.
func (b *Blocks) Block(ctx context.Context, by account.Account, domain, reason string) error {
	if !by.IsAdmin {
		return fault.Forbiddenf("admin_required", "Only an admin of this instance can block domains.")
	}
	domain, ok := domainOf(domain)
	if !ok {
		return fault.Invalidf("domain", "invalid_domain", "Give a domain name (example.org), a URL on it (https://example.org/) or a handle on it (@user@example.org).")
	}
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	if b.drop != nil {
		defer b.drop(domain)
	}
	defer b.invalidate()
	err = database.InTx(ctx, b.pool, func(tx *database.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO ap_domain_blocks (domain, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, domain, b.wall.Now())
		if err != nil {
			return err
		}
		// Everything the domain sent, or that names its actors, goes: matched by the host in
		// the IRI itself, so that nothing depends on which of its actors we happened to fetch.
		for _, f := range b.forget {
			if err := f.ForgetDomainTx(ctx, tx, domain); err != nil {
				return err
			}
		}
		now := b.clock.Now()
		// Blocked before: forgotten again (what arrived meanwhile), but one entry in the log.
		if b.log != nil && tag.RowsAffected() > 0 {
			if err := b.log.LogActionTx(ctx, tx, by.ID, moderation.DoBlockHost, domainTarget(domain), reason, now); err != nil {
				return err
			}
		}
		return eventstore.Append(tx, now, DomainGesperrt.New(eventstore.Header{Actor: by.ID}, DomainSperreV1{Domain: domain}))
	})
	if err != nil {
		return err
	}
	for _, f := range b.forget {
		if a, ok := f.(Afterwards); ok {
			a.ForgotDomain(domain)
		}
	}
	return nil
}

// domainTarget is how the moderation log names a domain.
func domainTarget(domain string) moderation.Target {
	return moderation.Target{Kind: "domain", ID: domain}
}

// MaxReason is the longest reason for a block, as for every moderation action.
const MaxReason = 1000

// checkReason: a block's reason is optional (the log shows "—"), at most MaxReason characters
// of text.
func checkReason(r string) (string, error) {
	r = strings.TrimSpace(r)
	if utf8.RuneCountInString(r) > MaxReason || strings.IndexFunc(r, func(c rune) bool { return unicode.IsControl(c) && c != '\n' }) >= 0 {
		return "", fault.Invalidf("reason", "invalid_reason", "A reason is at most 1000 characters, without control characters.")
	}
	return r, nil
}

// domainOf reads what an admin names to block: a domain (example.org, with or without a
// port), a URL on it (https://example.org/@anna) or a handle on it (@anna@example.org, with
// or without the leading @ or acct:). It returns the host: lower case, without port or
// trailing dot. Anything else, and a name that is no host name (a single label like
// "https", a space, an empty label), is not ok. Internationalised names must be given in
// their ASCII (xn--) form, the form their IRIs have.
func domainOf(in string) (string, bool) {
	host := strings.TrimSpace(in)
	switch {
	case strings.Contains(host, "://"):
		u, err := url.Parse(host)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", false
		}
		host = u.Host
	case strings.Contains(host, "@"):
		user, h, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(host, "acct:"), "@"), "@")
		if !ok || user == "" || strings.ContainsAny(user, "/ ") {
			return "", false
		}
		host = h
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); ip != nil {
		return ip.String(), true
	}
	if host == "localhost" {
		return host, true
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 || len(host) > 253 {
		return "", false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for _, c := range l {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return "", false
			}
		}
	}
	return host, true
}

// Unblock lifts a block.
func (b *Blocks) Unblock(ctx context.Context, by account.Account, domain, reason string) error {
	if !by.IsAdmin {
		return fault.Forbiddenf("admin_required", "Only an admin of this instance can unblock domains.")
	}
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	if d, ok := domainOf(domain); ok {
		domain = d
	} else {
		domain = strings.ToLower(strings.TrimSpace(domain)) // a block made before names were checked
	}
	defer b.invalidate()
	return database.InTx(ctx, b.pool, func(tx *database.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM ap_domain_blocks WHERE domain = $1`, domain)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		now := b.clock.Now()
		if b.log != nil {
			if err := b.log.LogActionTx(ctx, tx, by.ID, moderation.DoUnblockHost, domainTarget(domain), reason, now); err != nil {
				return err
			}
		}
		return eventstore.Append(tx, now, DomainEntsperrt.New(eventstore.Header{Actor: by.ID}, DomainSperreV1{Domain: domain}))
	})
}

// List lists the blocked domains.
func (b *Blocks) List(ctx context.Context) ([]string, error) {
	rows, err := b.pool.Query(ctx, `SELECT domain FROM ap_domain_blocks ORDER BY domain`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Check returns ErrBlocked when host, or a domain it belongs to, is defederated, and
// why it could not find out when the list cannot be read (no copy of it in memory): that is
// "not now", not a block, and what asked is retried rather than dropped.
func (b *Blocks) Check(ctx context.Context, host string) error {
	blocked, err := b.Lookup(ctx, host)
	if err != nil {
		return err
	}
	if blocked {
		return ErrBlocked
	}
	return nil
}

// BlockedNow asks the database itself, for decisions that store what a domain sent: a block
// made a moment ago by another process counts. When it cannot be asked, it says why; the
// caller tries again later rather than take that for a yes or a no.
func (b *Blocks) BlockedNow(ctx context.Context, host string) (bool, error) {
	host = iri.NormalHost(host)
	var blocked bool
	err := b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM ap_domain_blocks WHERE $1 = domain OR $1 LIKE '%.' || domain)`, host).Scan(&blocked)
	if err != nil {
		return false, fmt.Errorf("federation: domain block of %s: %w", host, err)
	}
	return blocked, nil
}
