package account

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// The lockout counts logins without success twice, and either count can lock:
//
//   - Per address and client network (an IPv4 address or an IPv6 /64, the client as the HTTP
//     layer's limits see it): after a few failures that client is locked out of that address
//     for a while, longer with each further attempt, whatever password comes next — the right
//     one too, so that guessing cannot go on at the pace of the rate limits. A stranger who
//     knows a resident's address so locks out only themselves.
//   - Per address, across all clients, with a far higher threshold: after that many failures
//     the address takes one attempt per AddressPace from clients it does not know. This bounds
//     a guesser spread over many networks, each staying under the count per client.
//
// A client the address knows — one that brings back the device token of an earlier success
// (device.go) — is counted per address and device instead of per network, and the count
// across all clients neither counts nor locks it: a stranger who keeps the address locked
// with a wrong attempt per AddressPace locks out new clients only, never the resident's own
// devices.
//
// Both counts live in the database (login_failures), so they hold across replicas and
// restarts, and they are kept under hashes of the address typed, whether or not an account has
// it: an unknown address is locked exactly like a known one, and a lock tells nothing about
// which addresses exist. Like sessions they are security state, not civic record: not events.

// Lockout says when an address is locked.
type Lockout struct {
	// Free is the number of attempts without success from one client network before it is
	// first locked out of the address.
	Free int
	// First is that lock; each further attempt doubles it, up to Max.
	First, Max time.Duration
	// Forget: a count whose last attempt is older than this starts again.
	Forget time.Duration
	// AddressFree is the number of attempts without success to one address, from all clients
	// it does not know together, after which the address takes at most one attempt per
	// AddressPace from such a client.
	AddressFree int
	AddressPace time.Duration
}

// DefaultLockout: from one client network, five attempts, then 1 minute, 2, 4, 8, and 15
// minutes for every attempt after that. A resident who mistypes four times is not locked; one
// who has forgotten the password waits a minute after the fifth try; a guesser gets about four
// guesses an hour per network. Across all networks, after 100 failures one attempt per 30 s:
// about 2,900 guesses a day however many networks a guesser has.
var DefaultLockout = Lockout{Free: 5, First: time.Minute, Max: 15 * time.Minute, Forget: 24 * time.Hour,
	AddressFree: 100, AddressPace: 30 * time.Second}

// lockAfter is how long a client network stays locked out of an address after its n-th
// attempt without success.
func (l Lockout) lockAfter(n int) time.Duration {
	if n < l.Free {
		return 0
	}
	d := l.First
	for i := l.Free; i < n && d < l.Max; i++ {
		d *= 2
	}
	return min(d, l.Max)
}

// addressLockAfter is how long the address takes no attempt after its n-th across all clients.
func (l Lockout) addressLockAfter(n int) time.Duration {
	if n < l.AddressFree {
		return 0
	}
	return l.AddressPace
}

// errLoginLocked answers a login while a lock holds; RetryAfter says for how long.
func errLoginLocked(wait time.Duration) error {
	return &fault.Error{Kind: fault.RateLimited, Code: "login_locked", RetryAfter: wait,
		Message: fmt.Sprintf("Too many logins to this address failed; try again in %s.", waitText(wait))}
}

func waitText(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d s", int((d+time.Second-1)/time.Second))
	}
	return fmt.Sprintf("%d minute(s)", int((d+time.Minute-1)/time.Minute))
}

// MaxEmailLength is the longest email address there is (RFC 5321's limit on a path, less its
// angle brackets): longer input names no account and is refused before anything counts it.
const MaxEmailLength = 254

var errInvalidEmail = fault.Invalidf("email", "invalid_email", "That is not an email address.")

// EmailKey is what an email address is counted under — by the lockout here, and by the HTTP
// layer's limits on registrations: a SHA-256 of the address trimmed and in lower case. The key
// has one size whatever the client sent, and the tables hold no address that was only ever
// typed into a form. An address longer than MaxEmailLength is refused (invalid_email).
func EmailKey(email string) ([sha256.Size]byte, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) > MaxEmailLength {
		return [sha256.Size]byte{}, errInvalidEmail
	}
	return sha256.Sum256([]byte(e)), nil
}

// lockKeys are the keys of one login's counts.
type lockKeys struct {
	client  []byte // the address's from one client network, or from one device it knows
	address []byte // the address's across all clients; nil for a device the address knows
}

func keysOf(email [sha256.Size]byte, from netip.Prefix) lockKeys {
	h := sha256.New()
	h.Write(email[:])
	h.Write([]byte(from.Masked().String()))
	return lockKeys{address: email[:], client: h.Sum(nil)}
}

// deviceKeysOf are the keys of a login from a device the address knows (device, its token's
// hash): one count, of that device's attempts. The prefix keeps it apart from every network's.
func deviceKeysOf(email [sha256.Size]byte, device []byte) lockKeys {
	h := sha256.New()
	h.Write(email[:])
	h.Write([]byte("device "))
	h.Write(device)
	return lockKeys{client: h.Sum(nil)}
}

func (k lockKeys) all() [][]byte {
	if k.address == nil {
		return [][]byte{k.client}
	}
	return [][]byte{k.client, k.address}
}

// wait is what a locked client is told: the rest of its own lock, and at least AddressPace
// while the address is locked across clients. The pace and not the precise end of the
// address's lock: a guesser who holds it should not be told the moment to send the next
// attempt.
func (l Lockout) wait(now time.Time, client, address *time.Time) time.Duration {
	var d time.Duration
	if client != nil && client.After(now) {
		d = client.Sub(now)
	}
	if address != nil && address.After(now) {
		d = max(d, l.AddressPace)
	}
	return d
}

// lockedFor is how much longer a lock holds for this login (0: none does): a read that spares
// a locked flood a hasher. failed is the higher of the login's counts not yet forgotten.
func (s *Service) lockedFor(ctx context.Context, k lockKeys) (wait time.Duration, failed int, err error) {
	now := s.wall.Now()
	var client, address *time.Time
	err = s.pool.QueryRow(ctx, `
SELECT max(locked_until) FILTER (WHERE key = $1), max(locked_until) FILTER (WHERE key = $2),
       coalesce(max(attempts) FILTER (WHERE last_at >= $4), 0)
FROM login_failures WHERE key = ANY($3)`, k.client, k.address, k.all(), now.Add(-s.lockout.Forget)).Scan(&client, &address, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("account: lockout: %w", err)
	}
	return s.lockout.wait(now, client, address), failed, nil
}

// count is one row of login_failures.
type count struct {
	attempts int
	last     time.Time
	until    *time.Time
}

// countAttempt records an attempt before its password is checked, so that concurrent attempts
// cannot all slip in under a limit: it answers errLoginLocked when a count of the login is
// locked, and otherwise counts the attempt in each (and sets the locks that follow it, should
// it fail). A success takes the attempt back (loginSucceeded).
func (s *Service) countAttempt(ctx context.Context, k lockKeys) error {
	now := s.wall.Now()
	var locked time.Duration
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tx.Defer(`INSERT INTO login_failures (key, attempts, last_at) SELECT key, 0, $2 FROM unnest($1::bytea[]) AS key ON CONFLICT DO NOTHING`,
			k.all(), now)
		// Locked in key order, as everything that locks more than one of these rows does
		// (loginSucceeded too): two attempts to one address from two clients share one row,
		// and a success and an attempt share two, without a deadlock.
		rows, err := tx.Query(ctx, `SELECT key, attempts, last_at, locked_until FROM login_failures WHERE key = ANY($1) ORDER BY key FOR UPDATE`,
			k.all())
		if err != nil {
			return fmt.Errorf("account: count attempt: %w", err)
		}
		var (
			key       []byte
			c         count
			client, a *count
		)
		_, err = pgx.ForEachRow(rows, []any{&key, &c.attempts, &c.last, &c.until}, func() error {
			row := c
			if string(key) == string(k.client) {
				client = &row
			} else {
				a = &row
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("account: count attempt: %w", err)
		}
		if client == nil || (k.address != nil && a == nil) {
			return errors.New("account: count attempt: a count row is missing")
		}
		var addressUntil *time.Time
		if a != nil {
			addressUntil = a.until
		}
		if locked = s.lockout.wait(now, client.until, addressUntil); locked > 0 {
			return nil
		}
		next := func(c count, lockAfter func(int) time.Duration) (int, *time.Time) {
			n := c.attempts + 1
			if now.Sub(c.last) > s.lockout.Forget {
				n = 1
			}
			if d := lockAfter(n); d > 0 {
				t := now.Add(d)
				return n, &t
			}
			return n, nil
		}
		const update = `UPDATE login_failures SET attempts = $2, last_at = $3, locked_until = $4 WHERE key = $1`
		n, until := next(*client, s.lockout.lockAfter)
		tx.Defer(update, k.client, n, now, until)
		if a == nil {
			return nil
		}
		n, until = next(*a, s.lockout.addressLockAfter)
		tx.Defer(update, k.address, n, now, until)
		if n == s.lockout.AddressFree {
			// Someone with many networks, or a patient one, is guessing. The key, not the
			// address: an admin who suspects an address can compare its SHA-256.
			s.log.Warn("login lockout: an address takes one attempt per pace now, from any network it does not know",
				"key", hex.EncodeToString(k.address), "failures", n, "pace", s.lockout.AddressPace)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if locked > 0 {
		return errLoginLocked(locked)
	}
	return nil
}

// loginSucceeded ends the client's count and takes the attempt back from the address's, in the
// transaction that opens the session. A lock across all clients stays: the attempt took its
// slot. The rows are locked first, in key order as countAttempt locks them: deleting one and
// updating the other in whatever order the statement happens to take them deadlocks with a
// concurrent attempt from the same network (and the loser's login was a 500).
func loginSucceeded(tx *database.Tx, k lockKeys) {
	tx.Defer(`SELECT FROM login_failures WHERE key = ANY($1) ORDER BY key FOR UPDATE`, k.all())
	tx.Defer(`DELETE FROM login_failures WHERE key = $1`, k.client)
	if k.address != nil {
		tx.Defer(`UPDATE login_failures SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0`, k.address)
	}
}

// SweepLoginFailures deletes counts that no longer lock and are old enough to be forgotten.
func (s *Service) SweepLoginFailures(ctx context.Context) (int64, error) {
	now := s.wall.Now()
	tag, err := s.pool.Exec(ctx, `
DELETE FROM login_failures WHERE last_at < $1 AND (locked_until IS NULL OR locked_until <= $2)`, now.Add(-s.lockout.Forget), now)
	if err != nil {
		return 0, fmt.Errorf("account: sweep login failures: %w", err)
	}
	return tag.RowsAffected(), nil
}
