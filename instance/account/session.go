package account

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// SessionLifetime is how long a login lasts.
const SessionLifetime = 30 * 24 * time.Hour

// Session is a login. The token goes into the session cookie; only its hash is stored.
type Session struct {
	Token     string
	AccountID uuid.UUID
	ExpiresAt time.Time
	// Device is the client's device token (device.go), new or the one it came with; it lasts
	// until DeviceExpiresAt unless used again. It goes into a cookie of its own, which outlives
	// the session: a logout ends the session, not what the instance knows of the device.
	Device          string
	DeviceExpiresAt time.Time
}

// ErrBadCredentials is the one answer to a wrong email or a wrong password, so that a login
// form does not tell which addresses are registered.
var ErrBadCredentials = &fault.Error{Kind: fault.Unauthenticated, Code: "invalid_credentials",
	Message: "Email or password is wrong."}

// Login checks the credentials and opens a session. from is the client's network (an IPv4
// address or an IPv6 /64): the lockout counts per address and network, and per address.
// device is the device token the client brought (empty if none): if it is one of this
// address's, the lockout counts per address and device instead (device.go).
//
// guard, when not nil, is asked before the password is checked, with the attempts without
// success the lockout has counted for this login (the client's count, or the address's across
// clients when that is higher and applies); an error from it is the login's answer, nothing
// counted. The HTTP layer asks the captcha there.
//
// An unknown address takes the same way as a known one with a wrong password — the same
// lockout counts, a hash on a hasher (against dummyHash), the same answer — so that neither the
// answer nor its time tells whether the address is registered.
func (s *Service) Login(ctx context.Context, email, password string, from netip.Prefix, device string,
	guard func(failed int) error) (Session, Account, error) {
	email = strings.TrimSpace(email)
	emailKey, err := EmailKey(email)
	if err != nil {
		return Session{}, Account{}, err
	}
	keys := keysOf(emailKey, from)
	known, err := s.knownDevice(ctx, emailKey, device)
	if err != nil {
		return Session{}, Account{}, err
	}
	if known != nil {
		keys = deviceKeysOf(emailKey, known)
	}
	wait, failed, err := s.lockedFor(ctx, keys)
	if err != nil {
		return Session{}, Account{}, err
	}
	if wait > 0 {
		return Session{}, Account{}, errLoginLocked(wait)
	}
	if guard != nil {
		if err := guard(failed); err != nil {
			return Session{}, Account{}, err
		}
	}
	a, hash, err := getAccountByEmail(ctx, s.pool, email)
	registered := err == nil
	if errors.Is(err, ErrNotFound) {
		hash = dummyHash
	} else if err != nil {
		return Session{}, Account{}, err
	}
	var (
		ok       bool
		checkErr error
	)
	// The attempt is counted on the hasher, just before the hash: a request that never gets a
	// hasher (busy, or gone) has not tried a password and does not count.
	err = s.hashers.do(ctx, func() {
		if checkErr = s.countAttempt(ctx, keys); checkErr == nil {
			ok, checkErr = verifyPassword(hash, password)
		}
	})
	if err = cmp.Or(err, checkErr); err != nil {
		return Session{}, Account{}, err
	}
	if !registered || !ok {
		return Session{}, Account{}, ErrBadCredentials
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Session{}, Account{}, fmt.Errorf("account: session token: %w", err)
	}
	now := s.wall.Now()
	sess := Session{Token: base64.RawURLEncoding.EncodeToString(raw), AccountID: a.ID, ExpiresAt: now.Add(SessionLifetime),
		Device: device, DeviceExpiresAt: now.Add(DeviceLifetime)}
	if known == nil {
		if sess.Device, err = newDeviceToken(); err != nil {
			return Session{}, Account{}, err
		}
	}
	// One round trip: the counts settled, the device remembered and the session opened together.
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		loginSucceeded(tx, keys)
		deviceLoggedIn(tx, emailKey, known, sess.Device, now)
		tx.Defer(`INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			tokenHash(sess.Token), a.ID, now, sess.ExpiresAt)
		return nil
	})
	if err != nil {
		return Session{}, Account{}, fmt.Errorf("account: create session: %w", err)
	}
	return sess, a, nil
}

// Authenticate returns the account of a live session.
func (s *Service) Authenticate(ctx context.Context, token string) (Account, error) {
	if token == "" {
		return Account{}, fault.ErrUnauthenticated
	}
	a, err := scanAccount(s.pool.QueryRow(ctx, `
SELECT `+accountColumns+` FROM accounts
WHERE id = (SELECT account_id FROM sessions WHERE token_hash = $1 AND expires_at > $2)`, tokenHash(token), s.wall.Now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, fault.ErrUnauthenticated
	}
	if err != nil {
		return Account{}, fmt.Errorf("account: authenticate: %w", err)
	}
	return a, nil
}

// Logout ends the session. Ending a session that does not exist is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash(token)); err != nil {
		return fmt.Errorf("account: logout: %w", err)
	}
	return nil
}

// SweepSessions deletes expired sessions.
func (s *Service) SweepSessions(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, s.wall.Now())
	if err != nil {
		return 0, fmt.Errorf("account: sweep sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
