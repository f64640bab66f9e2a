package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// Devices that logged in before (OWASP's "device cookies"). The lock across all networks
// (Lockout.AddressFree) bounds a guesser with many networks, but a stranger can hold it too:
// one wrong attempt per AddressPace keeps the address locked for everyone. So each successful
// login leaves the client a device token, and a login that brings it back is a device the
// address knows: it is counted per address and device alone (so that neither a stranger far
// away nor one behind the resident's own router can lock it) and the lock across networks
// does not apply to it. Only clients the address has never seen meet that lock.
//
// The token is random and only its SHA-256 is stored, with the key of the address it logged
// in to, like a session's. A signed token would spare the lookup, but it would need a key the
// instance keeps secret and never loses, and it could not be bounded per address, kept alive
// by use or withdrawn: a stored one is all three. A token is issued only after a success, so
// it tells nothing about which addresses exist; one for another address, an expired one or
// one that never was is ignored, and the login is a stranger's.

// DeviceLifetime is how long a device token lasts after it was last used to log in.
const DeviceLifetime = 180 * 24 * time.Hour

// DevicesPerAddress bounds the devices remembered for one address: a new one pushes out the
// one that logged in least recently.
const DevicesPerAddress = 20

// deviceTokenLength is the length of a device token as issued: 32 random bytes, base64url.
var deviceTokenLength = base64.RawURLEncoding.EncodedLen(32)

func newDeviceToken() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("account: device token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// knownDevice answers the hash of token if it is a device that logged in to the address
// (emailKey) within DeviceLifetime, and nil otherwise. What is not a token as issued costs
// no query.
func (s *Service) knownDevice(ctx context.Context, emailKey [sha256.Size]byte, token string) ([]byte, error) {
	if len(token) != deviceTokenLength {
		return nil, nil
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		return nil, nil
	}
	h := tokenHash(token)
	var known bool
	err := s.pool.QueryRow(ctx, `
SELECT true FROM login_devices WHERE token_hash = $1 AND email_key = $2 AND last_used_at > $3`,
		h, emailKey[:], s.wall.Now().Add(-DeviceLifetime)).Scan(&known)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("account: device: %w", err)
	}
	return h, nil
}

// deviceLoggedIn keeps a known device alive (hash not nil), or remembers a new one (token) for
// the address and forgets the least recently used beyond DevicesPerAddress. It runs in the
// transaction that opens the session, after loginSucceeded has locked the address's counts:
// two new devices for one address wait for each other there, and do not trim at once.
func deviceLoggedIn(tx *database.Tx, emailKey [sha256.Size]byte, hash []byte, token string, now time.Time) {
	if hash != nil {
		tx.Defer(`UPDATE login_devices SET last_used_at = $2 WHERE token_hash = $1`, hash, now)
		return
	}
	tx.Defer(`INSERT INTO login_devices (token_hash, email_key, last_used_at) VALUES ($1, $2, $3)`,
		tokenHash(token), emailKey[:], now)
	tx.Defer(`
DELETE FROM login_devices WHERE token_hash IN (
    SELECT token_hash FROM login_devices WHERE email_key = $1
    ORDER BY last_used_at DESC, token_hash OFFSET $2)`, emailKey[:], DevicesPerAddress)
}

// SweepDevices deletes device tokens not used to log in for DeviceLifetime.
func (s *Service) SweepDevices(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM login_devices WHERE last_used_at <= $1`, s.wall.Now().Add(-DeviceLifetime))
	if err != nil {
		return 0, fmt.Errorf("account: sweep devices: %w", err)
	}
	return tag.RowsAffected(), nil
}
