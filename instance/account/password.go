package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/sync/semaphore"

	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// Password hashing: argon2id with the parameters OWASP recommends as a minimum (19 MiB, two
// passes, one lane), stored in the PHC string format so the parameters can be raised later
// without invalidating old hashes.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

var b64 = base64.RawStdEncoding

func hashPassword(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("account: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("account: unreadable password hash")

func verifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var mem, iter uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil {
		return false, errBadHash
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, iter, mem, threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// dummyHash is checked against when no account has the email, so that a login attempt takes
// as long whether or not the address is registered.
var dummyHash, _ = hashPassword("no account has this password")

// ErrBusy is the answer when every hasher is taken and the queue before them is full: the
// request is refused at once rather than waiting for memory it would then allocate. It says
// nothing about the account, since it does not depend on it.
var ErrBusy = &fault.Error{Kind: fault.Unavailable, Code: "busy",
	Message: "The instance is busy checking passwords; try again in a moment.", RetryAfter: time.Second}

// hashers bounds the argon2 computations running at once. Each holds argonMemory (19 MiB) for
// as long as it runs, so without a bound memory grows with the number of concurrent logins: 32
// at once took an instance from 98 MB to 700 MB. More at once than there are CPUs only makes
// each one slower; a bounded queue in front lets a burst wait its turn, and a flood beyond it is
// answered with ErrBusy instead of piling up.
type hashers struct {
	slots   *semaphore.Weighted // FIFO: a waiting request is not overtaken
	queue   int64
	waiting atomic.Int64
	running atomic.Int64
	onHash  func()
}

func newHashers(size, queue int, onHash func()) *hashers {
	return &hashers{slots: semaphore.NewWeighted(int64(size)), queue: int64(queue), onHash: onHash}
}

// do runs f on a hasher, waiting for one while the queue has room and ctx lasts.
func (h *hashers) do(ctx context.Context, f func()) error {
	if !h.slots.TryAcquire(1) {
		if h.waiting.Add(1) > h.queue {
			h.waiting.Add(-1)
			return ErrBusy
		}
		err := h.slots.Acquire(ctx, 1)
		h.waiting.Add(-1)
		if err != nil {
			return err
		}
	}
	defer h.slots.Release(1)
	h.running.Add(1)
	defer h.running.Add(-1)
	if h.onHash != nil {
		h.onHash()
	}
	f()
	return nil
}

// hash hashes a new password on a hasher.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	var (
		out string
		err error
	)
	if werr := s.hashers.do(ctx, func() { out, err = hashPassword(password) }); werr != nil {
		return "", werr
	}
	return out, err
}

// Hashing reports how many password hashes are being computed now and how many requests wait
// for a hasher.
func (s *Service) Hashing() (running, waiting int) {
	return int(s.hashers.running.Load()), int(s.hashers.waiting.Load())
}
