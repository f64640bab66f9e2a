package account

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// The lockout: after a few logins to one address without success, that address is locked for
// a while, longer with each further attempt, whatever password comes next — the right one too,
// so that guessing cannot go on at the pace of the rate limits. A success ends the count.
//
// The count lives in the database (login_failures), so it holds across replicas and restarts,
// and it is kept per address typed, whether or not an account has it: an unknown address is
// locked exactly like a known one, and the lock tells nothing about which addresses exist.
// Like sessions it is security state, not civic record: it is not an event.

// Lockout says when an address is locked.
type Lockout struct {
	// Free is the number of attempts without success before the first lock.
	Free int
	// First is the lock after the Free-th attempt; each further attempt doubles it, up to Max.
	First, Max time.Duration
	// Forget: a count whose last attempt is older than this starts again.
	Forget time.Duration
}

// DefaultLockout: five attempts, then 1 minute, 2, 4, 8, and 15 minutes for every attempt
// after that. A resident who mistypes four times is not locked; one who has forgotten the
// password waits a minute after the fifth try; a guesser gets about four guesses an hour.
var DefaultLockout = Lockout{Free: 5, First: time.Minute, Max: 15 * time.Minute, Forget: 24 * time.Hour}

// lockAfter is how long an address stays locked after its n-th attempt without success.
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

// ErrLoginLocked answers a login to a locked address; RetryAfter says for how long.
func errLoginLocked(wait time.Duration) error {
	minutes := int((wait + time.Minute - 1) / time.Minute)
	return &fault.Error{Kind: fault.RateLimited, Code: "login_locked", RetryAfter: wait,
		Message: fmt.Sprintf("Too many logins to this address failed; it is locked for %d more minute(s). Try again then.", minutes)}
}

// emailKey is what the count is kept under: a hash of the address as typed (trimmed, lower
// case), so that the table holds no addresses that were only ever typed into a login form.
func emailKey(email string) []byte {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return h[:]
}

// lockedFor is how much longer the address is locked (0: it is not): a read that spares a
// locked address's flood a hasher.
func (s *Service) lockedFor(ctx context.Context, key []byte) (time.Duration, error) {
	now := s.wall.Now()
	var until *time.Time
	err := s.pool.QueryRow(ctx, `SELECT max(locked_until) FROM login_failures WHERE email_key = $1`, key).Scan(&until)
	if err != nil {
		return 0, fmt.Errorf("account: lockout: %w", err)
	}
	if until == nil || !until.After(now) {
		return 0, nil
	}
	return until.Sub(now), nil
}

// countAttempt records an attempt before its password is checked, so that concurrent attempts
// cannot all slip in under the limit: it answers errLoginLocked when the address is locked, and
// otherwise counts the attempt (and sets the lock that follows it, should it fail). A success
// clears the count (clearAttempts).
func (s *Service) countAttempt(ctx context.Context, key []byte) error {
	now := s.wall.Now()
	var locked time.Duration
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tx.Defer(`INSERT INTO login_failures (email_key, attempts, last_at) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING`, key, now)
		var (
			n     int
			last  time.Time
			until *time.Time
		)
		err := tx.QueryRow(ctx, `SELECT attempts, last_at, locked_until FROM login_failures WHERE email_key = $1 FOR UPDATE`, key).
			Scan(&n, &last, &until)
		if err != nil {
			return fmt.Errorf("account: count attempt: %w", err)
		}
		if until != nil && until.After(now) {
			locked = until.Sub(now)
			return nil
		}
		if now.Sub(last) > s.lockout.Forget {
			n = 0
		}
		n++
		var next *time.Time
		if d := s.lockout.lockAfter(n); d > 0 {
			t := now.Add(d)
			next = &t
		}
		tx.Defer(`UPDATE login_failures SET attempts = $2, last_at = $3, locked_until = $4 WHERE email_key = $1`, key, n, now, next)
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

func (s *Service) clearAttempts(ctx context.Context, key []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE email_key = $1`, key); err != nil {
		return fmt.Errorf("account: clear attempts: %w", err)
	}
	return nil
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
