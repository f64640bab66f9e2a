// Package captcha is the guests' proof of work — at registration and, as Options.Login says,
// at a login: an ALTCHA challenge (altcha.org) that the instance issues and checks itself — no
// third party is asked, nothing is tracked.
//
// The format is ALTCHA's first one ("v1"), made and checked by altcha-lib-go: a challenge is
// {algorithm: "SHA-256", challenge, maxnumber, salt, signature}, where challenge is
// SHA-256(salt + n) for a secret n < maxnumber, and signature is the HMAC-SHA-256 of challenge
// under the instance's key. The client finds n by trying (about maxnumber/2 hashes) and sends
// back, base64 of JSON, {algorithm, challenge, number, salt, signature, took}. The salt
// carries the expiry ("<random hex>?expires=<unix>&"), which the hash and so the signature
// cover. The altcha widget from version 3 on speaks a newer format by default and this one
// still (it converts a challenge with a "challenge" field and answers in the old payload).
//
// A solved challenge serves one registration or one login: it is spent (captcha_spent) when the
// registration acts or before the login's password is checked, and a second use — on any
// replica — is refused as replayed. The key is
// made at random once, by the first replica that needs it, and kept in the database, so that
// every replica checks what any issued.
package captcha

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	altcha "github.com/altcha-org/altcha-lib-go"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// Defaults.
const (
	// DefaultMaxNumber bounds the secret number: a browser tries half of it on average, well
	// under a second on a phone; a flood pays that for every registration it sends.
	DefaultMaxNumber = 200_000
	// DefaultTTL is how long a challenge may be solved and used: enough to fill in the form.
	DefaultTTL = 20 * time.Minute
	// maxPayload bounds what is decoded of a client's payload.
	maxPayload = 2048
)

// The refusals, all on the field "altcha".
var (
	ErrRequired = fault.Invalidf("altcha", "captcha_required", "This needs the solved captcha (field altcha); fetch one from GET /api/captcha.")
	ErrInvalid  = fault.Invalidf("altcha", "captcha_invalid", "The captcha's solution is not valid.")
	ErrExpired  = fault.Invalidf("altcha", "captcha_expired", "The captcha has expired; solve a new one.")
	ErrReplayed = fault.Invalidf("altcha", "captcha_replayed", "This captcha has been used already; solve a new one.")
)

// Options tune the challenges and say where they are asked.
type Options struct {
	MaxNumber int64         // 0: DefaultMaxNumber
	TTL       time.Duration // 0: DefaultTTL
	// NoRegister leaves registration without a captcha (WG_CAPTCHA without "register").
	NoRegister bool
	// Login says when a login must carry one; the zero value is LoginAfterFailures.
	Login LoginPolicy
}

// LoginPolicy says which logins must carry a solved captcha.
type LoginPolicy int

const (
	// LoginAfterFailures: a login for which the lockout has counted LoginFailures attempts
	// without success (from the client's network or device to that address, or to that address
	// from all clients it does not know): residents who type their password right never see
	// one; a guesser pays a proof of work for every guess after the first few.
	LoginAfterFailures LoginPolicy = iota
	// LoginNever: logins take no captcha (only the lockout bounds them).
	LoginNever
	// LoginAlways: every login takes one.
	LoginAlways
)

// LoginFailures is how many failed attempts LoginAfterFailures lets by without a captcha:
// below the lockout's five, so that a guesser pays before the first lock, and above a
// resident's usual typo or two.
const LoginFailures = 3

// ParseMode reads WG_CAPTCHA / --captcha: "off"; "on" (the default: "register,login-after-failures");
// or a comma-separated list of "register" and one of "login-after-failures" or "login" (every
// login). ok is false for "off".
func ParseMode(s string) (o Options, ok bool, err error) {
	switch strings.TrimSpace(s) {
	case "off":
		return Options{}, false, nil
	case "on", "":
		return Options{}, true, nil
	}
	o = Options{NoRegister: true, Login: LoginNever}
	seen := map[string]bool{}
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		if seen[w] {
			return Options{}, false, fmt.Errorf("captcha: %q named twice", w)
		}
		seen[w] = true
		switch w {
		case "register":
			o.NoRegister = false
		case "login-after-failures", "login":
			if o.Login != LoginNever {
				return Options{}, false, errors.New("captcha: name one of login-after-failures and login")
			}
			o.Login = map[string]LoginPolicy{"login": LoginAlways, "login-after-failures": LoginAfterFailures}[w]
		default:
			return Options{}, false, fmt.Errorf("captcha: want off, on, or a list of register, login-after-failures, login; got %q", w)
		}
	}
	return o, true, nil
}

// AtRegister says whether a registration must carry a solved captcha (false on a nil Service).
func (s *Service) AtRegister() bool { return s != nil && !s.opts.NoRegister }

// AtLogin says whether a login for which the lockout has counted failed attempts without
// success must carry one (false on a nil Service).
func (s *Service) AtLogin(failed int) bool {
	if s == nil {
		return false
	}
	switch s.opts.Login {
	case LoginAlways:
		return true
	case LoginAfterFailures:
		return failed >= LoginFailures
	}
	return false
}

// Service issues and checks challenges.
type Service struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	opts  Options

	mu  sync.Mutex
	key string // hex of captcha_key, once read
}

// New returns the captcha service.
func New(pool *pgxpool.Pool, c clock.Clock, o Options) *Service {
	if o.MaxNumber <= 0 {
		o.MaxNumber = DefaultMaxNumber
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	return &Service{pool: pool, clock: c, opts: o}
}

// Challenge is what GET /api/captcha answers: the widget's "v1" challenge.
type Challenge struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	MaxNumber int64  `json:"maxnumber"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
	// Expires is for clients that want to show it; the salt carries it for the check.
	Expires time.Time `json:"expires"`
}

// NewChallenge issues a fresh challenge, expiring TTL from now.
func (s *Service) NewChallenge(ctx context.Context) (Challenge, error) {
	key, err := s.hmacKey(ctx)
	if err != nil {
		return Challenge{}, err
	}
	expires := s.clock.Now().Add(s.opts.TTL).Truncate(time.Second)
	c, err := altcha.CreateChallenge(altcha.ChallengeOptions{Algorithm: altcha.SHA256, HMACKey: key, MaxNumber: s.opts.MaxNumber, Expires: &expires})
	if err != nil {
		return Challenge{}, fmt.Errorf("captcha: challenge: %w", err)
	}
	return Challenge{Algorithm: c.Algorithm, Challenge: c.Challenge, MaxNumber: c.MaxNumber, Salt: c.Salt, Signature: c.Signature, Expires: expires}, nil
}

// Solved is a checked solution, not yet spent.
type Solved struct {
	challenge string
	expires   time.Time
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Check reads and checks a client's payload (the widget's base64 of JSON): ErrRequired when
// there is none, ErrInvalid when it is not a solution of a challenge of ours, ErrExpired when
// it was one but is too old, ErrReplayed when it was spent. It spends nothing: see Spend.
func (s *Service) Check(ctx context.Context, payload string) (Solved, error) {
	payload = strings.TrimSpace(payload)
	if payload == "" {
		return Solved{}, ErrRequired
	}
	if len(payload) > maxPayload {
		return Solved{}, ErrInvalid
	}
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return Solved{}, ErrInvalid
	}
	var p altcha.Payload
	if err := json.Unmarshal(raw, &p); err != nil || p.Algorithm != string(altcha.SHA256) || !hex64.MatchString(p.Challenge) || p.Number < 0 {
		return Solved{}, ErrInvalid
	}
	// Ours always carry their expiry; one without was not made here.
	expiresUnix, err := strconv.ParseInt(altcha.ExtractParams(p).Get("expires"), 10, 64)
	if err != nil {
		return Solved{}, ErrInvalid
	}
	key, err := s.hmacKey(ctx)
	if err != nil {
		return Solved{}, err
	}
	// The expiry is checked below, against the instance's clock, not the library's.
	ok, err := altcha.VerifySolutionSafe(p, key, false)
	if err != nil || !ok {
		return Solved{}, ErrInvalid
	}
	expires := time.Unix(expiresUnix, 0)
	if !s.clock.Now().Before(expires) {
		return Solved{}, ErrExpired
	}
	// One spent already is refused here, before the caller counts it against any limit: a
	// replayed solution would otherwise take its address's registrations (the flood benchmark
	// saw it). Spend still decides between concurrent first uses.
	var spent bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM captcha_spent WHERE challenge = $1)`, p.Challenge).Scan(&spent); err != nil {
		return Solved{}, fmt.Errorf("captcha: check: %w", err)
	}
	if spent {
		return Solved{}, ErrReplayed
	}
	return Solved{challenge: p.Challenge, expires: expires}, nil
}

// Spend records the solution as used, or answers ErrReplayed when it was used before (here or
// on another replica).
func (s *Service) Spend(ctx context.Context, v Solved) error {
	if v.challenge == "" {
		return ErrInvalid
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO captcha_spent (challenge, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, v.challenge, v.expires)
	if err != nil {
		return fmt.Errorf("captcha: spend: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrReplayed
	}
	return nil
}

// Sweep forgets spent challenges that have expired: they are refused as expired from then on.
func (s *Service) Sweep(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM captcha_spent WHERE expires_at < $1`, s.clock.Now())
	if err != nil {
		return 0, fmt.Errorf("captcha: sweep: %w", err)
	}
	return tag.RowsAffected(), nil
}

// hmacKey reads the instance's captcha key, making it first if no replica has.
func (s *Service) hmacKey(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != "" {
		return s.key, nil
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return "", err
	}
	// Whoever inserts first wins; everyone reads the winner's.
	if _, err := s.pool.Exec(ctx, `INSERT INTO captcha_key (key) VALUES ($1) ON CONFLICT DO NOTHING`, fresh); err != nil {
		return "", fmt.Errorf("captcha: key: %w", err)
	}
	var key []byte
	if err := s.pool.QueryRow(ctx, `SELECT key FROM captcha_key`).Scan(&key); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return "", errors.New("captcha: key: none after insert")
		}
		return "", fmt.Errorf("captcha: key: %w", err)
	}
	s.key = hex.EncodeToString(key)
	return s.key, nil
}

// Solve finds the number of a challenge as a client would and returns the payload it sends:
// for tests and the benchmark (a flood pays the same work).
func Solve(c Challenge) (string, error) {
	sol, err := altcha.SolveChallenge(c.Challenge, c.Salt, altcha.Algorithm(c.Algorithm), int(c.MaxNumber), 0, nil)
	if err != nil {
		return "", err
	}
	if sol == nil {
		return "", errors.New("captcha: no solution below maxnumber")
	}
	b, err := json.Marshal(map[string]any{"algorithm": c.Algorithm, "challenge": c.Challenge, "number": sol.Number,
		"salt": c.Salt, "signature": c.Signature, "took": sol.Took.Milliseconds()})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
