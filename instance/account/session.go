package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// SessionLifetime is how long a login lasts.
const SessionLifetime = 30 * 24 * time.Hour

// Session is a login. The token goes into the session cookie; only its hash is stored.
type Session struct {
	Token     string
	AccountID uuid.UUID
	ExpiresAt time.Time
}

// ErrBadCredentials is the one answer to a wrong email or a wrong password, so that a login
// form does not tell which addresses are registered.
var ErrBadCredentials = &fault.Error{Kind: fault.Unauthenticated, Code: "invalid_credentials",
	Message: "Email or password is wrong."}

// Login checks the credentials and opens a session.
func (s *Service) Login(ctx context.Context, email, password string) (Session, Account, error) {
	a, hash, err := getAccountByEmail(ctx, s.pool, strings.TrimSpace(email))
	if errors.Is(err, ErrNotFound) {
		_, _ = verifyPassword(dummyHash, password)
		return Session{}, Account{}, ErrBadCredentials
	}
	if err != nil {
		return Session{}, Account{}, err
	}
	ok, err := verifyPassword(hash, password)
	if err != nil {
		return Session{}, Account{}, err
	}
	if !ok {
		return Session{}, Account{}, ErrBadCredentials
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Session{}, Account{}, fmt.Errorf("account: session token: %w", err)
	}
	now := s.wall.Now()
	sess := Session{Token: base64.RawURLEncoding.EncodeToString(raw), AccountID: a.ID, ExpiresAt: now.Add(SessionLifetime)}
	_, err = s.pool.Exec(ctx, `INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		tokenHash(sess.Token), a.ID, now, sess.ExpiresAt)
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
