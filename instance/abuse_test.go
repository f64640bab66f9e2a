package instance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

// An attacker's first guesses — the most used passwords, simple variants of them, and what
// anyone can read about the resident — are refused wherever a password is set, with a code the
// web app turns into German, and nothing is written.
func TestWeakPasswordsAreRefused(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	const email = "jana.weber@example.org"
	const address = "Lützner Straße 30, 04177 Leipzig"
	for _, tc := range []struct{ password, code string }{
		{"password", "invalid_password"},
		{"12345678", "invalid_password"},
		{"        ", "invalid_password"},
		{"neun neun", "invalid_password"},
		{"          ", "common_password"},
		{"aaaaaaaaaaaa", "common_password"},
		{"1234567890", "common_password"},
		{"Passwort2024!", "common_password"},
		{"P@ssw0rd123", "common_password"},
		{"hallohallo", "common_password"},
		{"qwertzuiop", "common_password"},
		{"iloveyou12345", "common_password"},
		{"weltgewebe1", "common_password"},
		{email, "personal_password"},
		{"Jana Weber 1990", "personal_password"},
		{"jana.weber!!", "personal_password"},
		{address, "personal_password"},
	} {
		before := inst.Rows()
		res := inst.Client().Post("/api/auth/register", map[string]any{"name": "Jana Weber", "address": address,
			"lat": lat, "lon": lon, "email": email, "password": tc.password})
		if res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != tc.code {
			t.Errorf("password %q: %d %q, want 422 %q; body %s", tc.password, res.Status, res.ErrorCode(), tc.code, res.Body)
			continue
		}
		assertNothingWritten(t, inst, before)
	}
	// Admins get their password from the command line: the same rule.
	_, err := inst.Accounts.CreateAdmin(context.Background(), "Ada Admin", "ada@example.org", "ada@example.org")
	if !fault.Is(err, "personal_password") {
		t.Errorf("admin with the address as password: %v", err)
	}
	_, err = inst.Accounts.CreateAdmin(context.Background(), "Ada Admin", "ada@example.org", "password123")
	if !fault.Is(err, "common_password") {
		t.Errorf("admin with password123: %v", err)
	}

	// What residents actually choose still goes through: passphrases, and the passwords the
	// demo and the tests use.
	for i, pw := range []string{"lange genug", "correct horse battery", "Fahrradkeller am Kanal", "weltgewebe-demo", "k8#Lw2!pQz"} {
		res := inst.Client().Post("/api/auth/register", map[string]any{"name": "Jana Weber", "address": address,
			"lat": lat, "lon": lon, "email": fmt.Sprintf("gut%d@example.org", i), "password": pw})
		if res.Status/100 != 2 {
			t.Errorf("password %q refused: %d %s", pw, res.Status, res.Body)
		}
	}
}

// Registration says the same whether or not the address has an account: same status, same
// bytes, no cookie. The address's owner is told instead, by a notice in the outbox.
func TestRegistrationDoesNotRevealAccounts(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	register := func(email, password string) *instancetest.Response {
		return inst.Client().Post("/api/auth/register", map[string]any{"name": "Clara Zwirn", "address": "Lützner Straße 30",
			"lat": lat, "lon": lon, "email": email, "password": password})
	}
	first := register("clara@example.org", "lange genug")
	if first.Status/100 != 2 {
		t.Fatalf("first registration: %d %s", first.Status, first.Body)
	}
	accounts := inst.Count(`SELECT count(*) FROM accounts`)
	taken := register("Clara@Example.org", "ein anderes Passwort")
	fresh := register("clarissa@example.org", "ein anderes Passwort")
	if taken.Status != fresh.Status || !bytes.Equal(taken.Body, fresh.Body) {
		t.Fatalf("taken address answered %d %s; a new one %d %s", taken.Status, taken.Body, fresh.Status, fresh.Body)
	}
	for _, h := range []string{"Set-Cookie", "Content-Type", "Content-Length", "Location", "Retry-After"} {
		if !slices.Equal(taken.Header.Values(h), fresh.Header.Values(h)) {
			t.Errorf("header %s differs: taken %q, new %q", h, taken.Header.Values(h), fresh.Header.Values(h))
		}
	}
	if taken.Header.Get("Set-Cookie") != "" {
		t.Errorf("registration sets a cookie: %s", taken.Header.Get("Set-Cookie"))
	}
	if n := inst.Count(`SELECT count(*) FROM accounts`); n != accounts+1 {
		t.Errorf("%d accounts after a taken and a new registration, want %d", n, accounts+1)
	}

	// The notice went to the taken address; the account is as it was.
	if n := inst.Count(`SELECT count(*) FROM mail_outbox WHERE lower(to_address) = 'clara@example.org' AND subject LIKE 'Jemand wollte sich%'`); n != 1 {
		t.Errorf("%d notices to the taken address, want 1", n)
	}
	c := inst.Client()
	c.Post("/api/auth/login", map[string]string{"email": "clara@example.org", "password": "ein anderes Passwort"}).Expect(t, http.StatusUnauthorized)
	c.Post("/api/auth/login", map[string]string{"email": "clara@example.org", "password": "lange genug"}).Expect(t, http.StatusOK)
	c.Post("/api/auth/login", map[string]string{"email": "clarissa@example.org", "password": "ein anderes Passwort"}).Expect(t, http.StatusOK)
}

// After a few failed logins from one client an address is locked for that client, for the
// right password too, with a 429 and Retry-After; and an address without an account is locked
// the same way, so that the lock tells nothing about which addresses exist.
func TestLoginLockout(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ada := inst.Resident("Ada", lat, lon)
	type answer struct {
		status     int
		code       string
		retryAfter bool
	}
	attempts := func(email string) []answer {
		c := inst.Client()
		var out []answer
		for _, pw := range []string{"falsch 1", "falsch 2", "falsch 3", "falsch 4", "falsch 5", "falsch 6", instancetest.ResidentPassword} {
			res := c.Post("/api/auth/login", map[string]string{"email": email, "password": pw})
			out = append(out, answer{res.Status, res.ErrorCode(), res.Header.Get("Retry-After") != ""})
		}
		return out
	}
	known := attempts(ada.Email)
	for i, a := range known[:5] {
		if a != (answer{http.StatusUnauthorized, "invalid_credentials", false}) {
			t.Errorf("attempt %d: %+v, want 401 invalid_credentials", i+1, a)
		}
	}
	for i, a := range known[5:] {
		if a != (answer{http.StatusTooManyRequests, "login_locked", true}) {
			t.Errorf("attempt %d (the last with the right password): %+v, want 429 login_locked with Retry-After", i+6, a)
		}
	}
	if unknown := attempts("niemand@example.org"); !slices.Equal(unknown, known) {
		t.Errorf("an unknown address answers %+v; a known one %+v", unknown, known)
	}
	// The lock is the address's from the client's network, not a session's: a fresh client on
	// the same network (127.0.0.1) is refused too, and the session the resident already had
	// goes on.
	inst.Client().Post("/api/auth/login", map[string]string{"email": ada.Email, "password": instancetest.ResidentPassword}).
		Expect(t, http.StatusTooManyRequests)
	ada.Get("/api/me").Expect(t, http.StatusOK)
	if s, err := strconv.Atoi(inst.Client().Post("/api/auth/login", map[string]string{"email": ada.Email, "password": "x"}).
		Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %d (%v), want the rest of the first minute's lock", s, err)
	}
}

// wallClock is a wall clock the test moves: the lockout runs on wall-clock time.
type wallClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *wallClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *wallClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// The lock is kept in the database: it holds on every replica, ends when its time is up (the
// owner then gets in with the right password, and the count starts again), and grows with each
// further attempt.
func TestLockoutEndsAndHoldsAcrossReplicas(t *testing.T) {
	t.Parallel()
	wall := &wallClock{t: time.Now().UTC().Truncate(time.Microsecond)}
	a := instancetest.Start(t, instancetest.Options{Accounts: account.Options{Wall: wall}})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2", ReplicaOf: a, Accounts: account.Options{Wall: wall}})
	ada := a.Resident("Ada", lat, lon)
	login := func(inst *instancetest.Instance, pw string) int {
		return inst.Client().Post("/api/auth/login", map[string]string{"email": ada.Email, "password": pw}).Status
	}
	fail := func(n int) {
		t.Helper()
		for i := range n {
			if s := login(a, "falsch falsch"); s != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: %d, want 401", i+1, s)
			}
		}
	}
	expect := func(inst *instancetest.Instance, pw string, want int, when string) {
		t.Helper()
		if s := login(inst, pw); s != want {
			t.Fatalf("%s: %d, want %d", when, s, want)
		}
	}

	fail(5)
	expect(b, instancetest.ResidentPassword, http.StatusTooManyRequests, "right password on the other replica, just locked")
	wall.Add(59 * time.Second)
	expect(b, instancetest.ResidentPassword, http.StatusTooManyRequests, "after 59 s of a 1-minute lock")
	wall.Add(2 * time.Second)
	expect(b, instancetest.ResidentPassword, http.StatusOK, "right password after the lock")

	// The success cleared the count: five more attempts before the next lock, which then
	// doubles with the attempt after it.
	fail(5)
	wall.Add(61 * time.Second)
	fail(1)
	wall.Add(61 * time.Second)
	expect(a, instancetest.ResidentPassword, http.StatusTooManyRequests, "61 s into the second, 2-minute lock")
	wall.Add(60 * time.Second)
	expect(a, instancetest.ResidentPassword, http.StatusOK, "after the second lock")

	// A count left alone for a day is forgotten, and the sweep deletes it.
	fail(4)
	wall.Add(25 * time.Hour)
	fail(4)
	wall.Add(25 * time.Hour)
	if n, err := a.Accounts.SweepLoginFailures(context.Background()); err != nil || n != 2 {
		t.Errorf("sweep: %d counts deleted (%v), want 2 (the client's and the address's)", n, err)
	}
	fail(4)
	expect(a, instancetest.ResidentPassword, http.StatusOK, "four failures a day after four, and a day after four more")
	// The success ended the client's count and took its own attempt back from the address's,
	// which keeps the four failures.
	if n, sum := a.Count(`SELECT count(*) FROM login_failures`), a.Count(`SELECT sum(attempts) FROM login_failures`); n != 1 || sum != 4 {
		t.Errorf("%d counts with %d attempts left after a success, want the address's with 4", n, sum)
	}
}

// postFrom sends a JSON POST from a loopback address of its own (Linux routes all of
// 127.0.0.0/8 to lo), so a test can be several clients; it is safe in goroutines.
func postFrom(local, url, body string, header ...string) (*http.Response, []byte, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 60 * time.Second}
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// Many bad logins at once cannot make more than the pool's hashers compute at once (each holds
// 19 MiB): the queue holds the next few, and the rest are answered 503 busy at once, without a
// hash. Counted, not timed: the hashers are held until the test lets them go.
func TestHashersBoundConcurrentLogins(t *testing.T) {
	t.Parallel()
	const hashers, queue, flood = 2, 3, 12
	release := make(chan struct{})
	var inside, most, hashes atomic.Int64
	inst := instancetest.Start(t, instancetest.Options{Accounts: account.Options{Hashers: hashers, HashQueue: queue,
		OnHash: func() {
			n := inside.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			hashes.Add(1)
			<-release
			inside.Add(-1)
		}}})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let) // before the instance stops, should the test end early
	type answer struct {
		status     int
		code       string
		retryAfter string
	}
	answers := make(chan answer, flood)
	for i := range flood {
		go func() {
			res, body, err := postFrom("127.0.0.1", inst.URL+"/api/auth/login",
				fmt.Sprintf(`{"email":"flut%d@example.org","password":"falsch falsch"}`, i))
			if err != nil {
				answers <- answer{code: err.Error()}
				return
			}
			r := &instancetest.Response{Body: body}
			answers <- answer{res.StatusCode, r.ErrorCode(), res.Header.Get("Retry-After")}
		}()
	}
	// Waiting is for an event (an answer, a state), never for a time; each step checks on the
	// way that no more than the pool's hashers ever ran at once.
	tooMany := func() {
		if most.Load() > hashers {
			t.Fatalf("%d hashes ran at once; the pool has %d", most.Load(), hashers)
		}
	}
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	next := func() answer {
		t.Helper()
		for {
			select {
			case a := <-answers:
				return a
			case <-tick.C:
				tooMany()
			case <-deadline:
				t.Fatalf("no answer within 30 s")
			}
		}
	}
	for range flood - hashers - queue {
		if a := next(); a != (answer{http.StatusServiceUnavailable, "busy", "1"}) {
			t.Fatalf("a login beyond the queue: %+v, want 503 busy with Retry-After: 1", a)
		}
	}
	for {
		tooMany()
		running, waiting := inst.Accounts.Hashing()
		if running == hashers && waiting == queue && inside.Load() == hashers {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the hashers were not all taken with the queue full within 30 s: %d running, %d waiting", running, waiting)
		}
	}
	let()
	for range hashers + queue {
		if a := next(); a.status != http.StatusUnauthorized {
			t.Errorf("a queued login: %+v, want 401", a)
		}
	}
	if most.Load() != hashers || hashes.Load() != hashers+queue {
		t.Errorf("%d hashes at most at once (want %d), %d in all (want %d)", most.Load(), hashers, hashes.Load(), hashers+queue)
	}
}

// The limits answer 429 with Retry-After once a client, an address typed or an account has
// used its burst; others go on. Forwarded addresses count only from a trusted proxy, and IPv6
// clients count by their /64.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	hour := time.Hour
	inst := instancetest.Start(t, instancetest.Options{RateLimits: &httpapi.RateLimits{
		Rules: []httpapi.Rule{
			{Class: httpapi.ClassLogin, Scope: httpapi.PerIP, Burst: 3, Every: hour},
			{Class: httpapi.ClassRegister, Scope: httpapi.PerAccount, Burst: 2, Every: hour},
			{Class: httpapi.ClassWrite, Scope: httpapi.PerAccount, Burst: 4, Every: hour},
			{Class: httpapi.ClassWrite, Scope: httpapi.PerIP, Burst: 100, Every: hour},
		},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")},
	}})
	status := func(local, path, body string, header ...string) (int, string, string) {
		t.Helper()
		res, b, err := postFrom(local, inst.URL+path, body, header...)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, (&instancetest.Response{Body: b}).ErrorCode(), res.Header.Get("Retry-After")
	}
	// Each to another address, so that the lockout (five per address) does not answer first.
	var n atomic.Int64
	badLogin := func() string {
		return fmt.Sprintf(`{"email":"niemand%d@example.org","password":"falsch falsch"}`, n.Add(1))
	}

	// Logins by address: three from 127.0.0.2, then 429 for an hour; 127.0.0.3 is another client.
	for i := range 3 {
		if s, _, _ := status("127.0.0.2", "/api/auth/login", badLogin()); s != http.StatusUnauthorized {
			t.Fatalf("login %d: %d, want 401", i+1, s)
		}
	}
	s, code, retry := status("127.0.0.2", "/api/auth/login", badLogin())
	if secs, err := strconv.Atoi(retry); s != http.StatusTooManyRequests || code != "rate_limited" || err != nil || secs < 3500 || secs > 3600 {
		t.Fatalf("fourth login: %d %q Retry-After %q; want 429 rate_limited, about an hour", s, code, retry)
	}
	if s, _, _ := status("127.0.0.3", "/api/auth/login", badLogin()); s != http.StatusUnauthorized {
		t.Fatalf("another client's login: %d, want 401", s)
	}

	// Through the trusted proxy the forwarded address counts (an IPv6 client by its /64);
	// from anyone else the header is ignored.
	for _, tc := range []struct {
		from, forwarded string
		want            int
	}{
		{"127.0.0.4", "198.51.100.1", 401}, {"127.0.0.4", "198.51.100.1", 401}, {"127.0.0.4", "198.51.100.1", 401},
		{"127.0.0.4", "198.51.100.1", 429},
		{"127.0.0.4", "203.0.113.9, 198.51.100.1", 429}, // the client wrote the first; the proxy the last
		{"127.0.0.4", "198.51.100.2", 401},
		{"127.0.0.4", "2001:db8:1:2::1", 401}, {"127.0.0.4", "2001:db8:1:2::2", 401}, {"127.0.0.4", "2001:db8:1:2::3", 401},
		{"127.0.0.4", "2001:db8:1:2:ffff::9", 429},
		{"127.0.0.4", "2001:db8:1:3::1", 401},
		{"127.0.0.5", "192.0.2.1", 401}, {"127.0.0.5", "192.0.2.2", 401}, {"127.0.0.5", "192.0.2.3", 401},
		{"127.0.0.5", "192.0.2.4", 429}, // not a trusted proxy: counted as itself
	} {
		if s, _, _ := status(tc.from, "/api/auth/login", badLogin(), "X-Forwarded-For", tc.forwarded); s != tc.want {
			t.Errorf("login from %s for %s: %d, want %d", tc.from, tc.forwarded, s, tc.want)
		}
	}

	// Registrations by address typed: the third for one address is refused, whether or not it
	// has an account.
	reg := func(email string) int {
		s, _, _ := status("127.0.0.6", "/api/auth/register", fmt.Sprintf(`{"name":"Nele","address":"Weg 1","lat":%v,"lon":%v,"email":%q,"password":"lange genug"}`, lat, lon, email))
		return s
	}
	for _, email := range []string{"nele@example.org", "nele@example.org", "niemand@example.org", "niemand@example.org"} {
		if s := reg(email); s != http.StatusAccepted {
			t.Fatalf("registration of %s: %d, want 202", email, s)
		}
	}
	if a, b := reg("Nele@example.org"), reg("niemand@example.org"); a != http.StatusTooManyRequests || b != a {
		t.Fatalf("third registrations: known address %d, unknown %d; want 429 for both", a, b)
	}

	// Writes by account: four, then 429; another account goes on.
	ada, ben := inst.Resident("Ada", lat, lon), inst.Resident("Ben", lat, lon)
	knoten := map[string]any{"type": "idee", "title": "Bank", "lat": lat, "lon": lon}
	for range 4 {
		ada.Post("/api/knoten", knoten).Expect(t, http.StatusCreated)
	}
	if res := ada.Post("/api/knoten", knoten).Expect(t, http.StatusTooManyRequests); res.Header.Get("Retry-After") == "" || res.ErrorCode() != "rate_limited" {
		t.Errorf("fifth write: %s %v", res.Body, res.Header)
	}
	ben.Post("/api/knoten", knoten).Expect(t, http.StatusCreated)
}

// attempt is what a client sees of one login or registration.
type attempt struct {
	status     int
	code       string
	retryAfter int // seconds; 0 without the header
}

// loginFrom logs in from a loopback address of its own: one client network per address.
func loginFrom(t *testing.T, inst *instancetest.Instance, local, email, password string) attempt {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	res, b, err := postFrom(local, inst.URL+"/api/auth/login", body)
	if err != nil {
		t.Fatal(err)
	}
	secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	return attempt{res.StatusCode, (&instancetest.Response{Body: b}).ErrorCode(), secs}
}

// An address no account can have (longer than 254 bytes) is refused before anything counts it:
// the limits do not keep it as a key, and the lockout does not write it down. Keys are of one
// size whatever the client sends: a flood of the longest addresses the body limit lets through
// does not grow the instance's memory. Not parallel, so that no other test's instance shares
// the heap it measures.
func TestOverlongEmailsCostNothing(t *testing.T) {
	if raceDetector {
		t.Skip("a heap bound, measured without the race detector (make test's second pass)")
	}
	inst := instancetest.Start(t, instancetest.Options{RateLimits: &httpapi.RateLimits{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	long := strings.Repeat("a", 243) + "@example.org" // 255 bytes
	res := inst.Client().Post("/api/auth/login", map[string]string{"email": long, "password": "falsch falsch"})
	if res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != "invalid_email" {
		t.Errorf("login with a 255-byte address: %d %s, want 422 invalid_email", res.Status, res.Body)
	}
	res = inst.Client().Post("/api/auth/register", map[string]any{"name": "Lang", "address": "Weg 1", "lat": lat, "lon": lon,
		"email": long, "password": "lange genug"})
	if res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != "invalid_email" {
		t.Errorf("registration with a 255-byte address: %d %s, want 422 invalid_email", res.Status, res.Body)
	}
	if n := inst.Count(`SELECT count(*) FROM login_failures`); n != 0 {
		t.Errorf("%d lockout counts after a login with an impossible address", n)
	}

	// 1,000 logins and registrations, each with another 60 KiB address, each from another
	// client (forwarded by a trusted proxy, so that the limits by address let them through).
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	// One connection for all, so that what the heap holds afterwards is not connections.
	client := &http.Client{Timeout: time.Minute}
	defer client.CloseIdleConnections()
	before := heap()
	pad := strings.Repeat("x", 60<<10)
	for i := range 1000 {
		path, body := "/api/auth/login", fmt.Sprintf(`{"email":"%d%s@example.org","password":"falsch falsch"}`, i, pad)
		if i%2 == 1 {
			path, body = "/api/auth/register", fmt.Sprintf(`{"name":"Lang","address":"Weg 1","lat":%v,"lon":%v,"email":"%d%s@example.org","password":"lange genug"}`, lat, lon, i, pad)
		}
		req, err := http.NewRequest("POST", inst.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", i/250, i%250))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode/100 != 4 || res.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("request %d: %d, want a 4xx refusal", i, res.StatusCode)
		}
	}
	grew := int64(heap()) - int64(before)
	t.Logf("1,000 requests with 60 KiB addresses: heap %+.1f MiB", float64(grew)/(1<<20))
	if grew > 16<<20 {
		t.Errorf("1,000 requests with 60 KiB addresses grew the heap by %d MiB", grew>>20)
	}
}

// A registration the rules refuse (a weak password, say) does not count against the limits:
// a resident whose first three passwords were refused registers with the fourth. Registrations
// that act — that hash a password and queue a mail — do count. Default limits.
func TestRefusedRegistrationsDoNotUseTheLimits(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{RateLimits: &httpapi.RateLimits{}})
	reg := func(password string) *instancetest.Response {
		return inst.Client().Post("/api/auth/register", map[string]any{"name": "Jana Weber", "address": "Lützner Straße 30",
			"lat": lat, "lon": lon, "email": "jana@example.org", "password": password})
	}
	// More refusals than the limits per address (3) and per client address (30) hold.
	for i := range 31 {
		pw := []string{"password123", "jana@example.org", "Jana Weber 1990"}[i%3]
		if res := reg(pw); res.Status != http.StatusUnprocessableEntity {
			t.Fatalf("refused password %d: %d %s, want 422", i+1, res.Status, res.Body)
		}
	}
	for i := range 3 {
		if res := reg("lange genug"); res.Status != http.StatusAccepted {
			t.Fatalf("registration %d with an acceptable password after the refusals: %d %s, want 202", i+1, res.Status, res.Body)
		}
	}
	if res := reg("lange genug"); res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("a fourth registration that acts: %d %s, want 429 with Retry-After", res.Status, res.Body)
	}
}

// Someone who knows a resident's address cannot keep them from logging in: the lock after five
// failures is the address's from that client's network only. The locked client stays locked,
// with the right password too. Default limits.
func TestStrangerCannotLockResidentOut(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{RateLimits: &httpapi.RateLimits{}})
	ada := inst.Resident("Ada", lat, lon)
	for i := range 10 {
		a := loginFrom(t, inst, "127.0.0.2", ada.Email, fmt.Sprintf("falsch %d", i))
		want := attempt{status: http.StatusUnauthorized, code: "invalid_credentials"}
		if i >= 5 {
			want = attempt{status: http.StatusTooManyRequests, code: "login_locked", retryAfter: a.retryAfter}
		}
		if a != want || (i >= 5 && (a.retryAfter < 1 || a.retryAfter > 60)) {
			t.Fatalf("stranger's attempt %d: %+v, want %+v (Retry-After within the first minute)", i+1, a, want)
		}
	}
	if a := loginFrom(t, inst, "127.0.0.3", ada.Email, instancetest.ResidentPassword); a.status != http.StatusOK {
		t.Errorf("the resident from her own network after a stranger's ten failures: %+v, want 200", a)
	}
	if a := loginFrom(t, inst, "127.0.0.2", ada.Email, instancetest.ResidentPassword); a.status != http.StatusTooManyRequests || a.code != "login_locked" {
		t.Errorf("the right password from the locked client: %+v, want 429 login_locked", a)
	}
}

// A guesser spread over many networks, each staying under the lock per client, meets the
// bound per address: after 100 failures across all clients, the address takes one attempt per
// 30 s from clients it does not know — the resident on a new device too (her devices that
// logged in before do not meet it: TestStrangerCannotHoldTheResidentsDevicesOut). Unknown
// addresses the same.
func TestDistributedGuessingMeetsTheAddressBound(t *testing.T) {
	if raceDetector {
		t.Skip("hundreds of sequential logins, argon2-bound; run without the race detector (make test's second pass)")
	}
	t.Parallel()
	wall := &wallClock{t: time.Now().UTC().Truncate(time.Microsecond)}
	inst := instancetest.Start(t, instancetest.Options{RateLimits: &httpapi.RateLimits{}, Accounts: account.Options{Wall: wall}})
	ada := inst.Resident("Ada", lat, lon)
	run := func(email string) []attempt {
		for c := range 25 {
			for i := range 4 {
				if a := loginFrom(t, inst, fmt.Sprintf("127.0.1.%d", c+1), email, fmt.Sprintf("falsch %d", i)); a.status != http.StatusUnauthorized {
					t.Fatalf("%s: guess %d from client %d: %+v, want 401 (four per client lock nothing)", email, i+1, c+1, a)
				}
			}
		}
		var out []attempt
		out = append(out, loginFrom(t, inst, "127.0.2.1", email, "noch ein Versuch"))
		out = append(out, loginFrom(t, inst, "127.0.2.2", email, instancetest.ResidentPassword))
		wall.Add(31 * time.Second)
		out = append(out, loginFrom(t, inst, "127.0.2.2", email, "falsch vertippt"))
		out = append(out, loginFrom(t, inst, "127.0.2.3", email, instancetest.ResidentPassword))
		wall.Add(31 * time.Second)
		return out
	}
	known := run(ada.Email)
	// What an admin would ask the database (docs/OPERATIONS.md) finds the address's count.
	if n := inst.Count(`SELECT attempts FROM login_failures WHERE key = sha256(convert_to(lower($1), 'UTF8'))`, ada.Email); n != 101 {
		t.Errorf("the address's count: %d attempts, want 101", n)
	}
	for i, a := range known[:2] {
		if a.status != http.StatusTooManyRequests || a.code != "login_locked" || a.retryAfter < 1 || a.retryAfter > 30 {
			t.Errorf("attempt %d after 100 failures across clients: %+v, want 429 login_locked, Retry-After at most 30", i+1, a)
		}
	}
	if a := known[2]; a.status != http.StatusUnauthorized {
		t.Errorf("a wrong password 31 s later: %+v, want 401", a)
	}
	if a := known[3]; a.status != http.StatusTooManyRequests || a.retryAfter > 30 {
		t.Errorf("the next attempt within 30 s of it: %+v, want 429", a)
	}
	if a := loginFrom(t, inst, "127.0.2.4", ada.Email, instancetest.ResidentPassword); a.status != http.StatusOK {
		t.Errorf("the resident 31 s after the last attempt: %+v, want 200", a)
	}
	unknown := run("niemand@example.org")
	for i := range known {
		if known[i].status != unknown[i].status || known[i].code != unknown[i].code {
			t.Errorf("attempt %d: a known address %+v, an unknown one %+v", i+1, known[i], unknown[i])
		}
	}
}

// A registration is one transaction, whichever way it goes: the account, its event and its mail
// commit together, or nothing does. A registration that fails on the way (here: the outbox
// refuses the mail) leaves no account behind that the answer would deny. And both ways take
// the same work: one password hash for a taken address and for a new one, as for a login to a
// known and to an unknown address.
func TestRegistrationIsOneTransaction(t *testing.T) {
	t.Parallel()
	var hashes atomic.Int64
	inst := instancetest.Start(t, instancetest.Options{Accounts: account.Options{OnHash: func() { hashes.Add(1) }}})
	ctx := context.Background()
	register := func(email string) *instancetest.Response {
		return inst.Client().Post("/api/auth/register", map[string]any{"name": "Clara Zwirn", "address": "Lützner Straße 30",
			"lat": lat, "lon": lon, "email": email, "password": "lange genug"})
	}
	pgtest.DDL(t, ctx, inst.Pool, `
CREATE FUNCTION refuse_mail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the outbox is gone'; END $$;
CREATE TRIGGER refuse_mail BEFORE INSERT ON mail_outbox FOR EACH ROW EXECUTE FUNCTION refuse_mail();`)
	before := inst.Rows()
	if res := register("clara@example.org"); res.Status != http.StatusInternalServerError {
		t.Errorf("registration whose mail cannot be queued: %d %s, want 500", res.Status, res.Body)
	}
	assertNothingWritten(t, inst, before)
	pgtest.DDL(t, ctx, inst.Pool, `DROP TRIGGER refuse_mail ON mail_outbox`)

	hashesOf := func(what string, do func()) {
		t.Helper()
		n := hashes.Load()
		do()
		if got := hashes.Load() - n; got != 1 {
			t.Errorf("%s: %d password hashes, want 1", what, got)
		}
	}
	hashesOf("a new address", func() { register("clara@example.org").Expect(t, http.StatusAccepted) })
	hashesOf("a taken address", func() { register("CLARA@example.org").Expect(t, http.StatusAccepted) })
	hashesOf("a login to a known address", func() {
		inst.Client().Post("/api/auth/login", map[string]string{"email": "clara@example.org", "password": "falsch falsch"}).Expect(t, http.StatusUnauthorized)
	})
	hashesOf("a login to an unknown address", func() {
		inst.Client().Post("/api/auth/login", map[string]string{"email": "niemand@example.org", "password": "falsch falsch"}).Expect(t, http.StatusUnauthorized)
	})
	hashesOf("a successful login", func() {
		inst.Client().Post("/api/auth/login", map[string]string{"email": "clara@example.org", "password": "lange genug"}).Expect(t, http.StatusOK)
	})
	rows := func(subject string) int {
		return inst.Count(`SELECT count(*) FROM mail_outbox WHERE lower(to_address) = 'clara@example.org' AND subject LIKE $1`, subject+"%")
	}
	if w, n := rows("Willkommen"), rows("Jemand wollte sich"); w != 1 || n != 1 {
		t.Errorf("mail queued: %d welcomes and %d notices, want one each", w, n)
	}
}

// Mail is wall-clock data like sessions, and the outbox keeps it 30 days: the hourly sweep
// deletes what is older, sent or not.
func TestMailOutboxRetention(t *testing.T) {
	t.Parallel()
	wall := &wallClock{t: time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)}
	inst := instancetest.Start(t, instancetest.Options{Accounts: account.Options{Wall: wall}})
	inst.Resident("Ada", lat, lon)
	var at time.Time
	if err := inst.Pool.QueryRow(context.Background(), `SELECT created_at FROM mail_outbox`).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if !at.Equal(wall.Now()) {
		t.Errorf("mail queued at %s; the wall clock says %s", at, wall.Now())
	}
	wall.Add(30*24*time.Hour - time.Second)
	inst.Advance("1m") // runs every sweep
	if n := inst.Count(`SELECT count(*) FROM mail_outbox`); n != 1 {
		t.Fatalf("%d mails after 30 days less a second, want 1", n)
	}
	wall.Add(2 * time.Second)
	inst.Advance("1m")
	if n := inst.Count(`SELECT count(*) FROM mail_outbox`); n != 0 {
		t.Errorf("%d mails after 30 days, want 0", n)
	}
}

// deviceLogin logs in from a loopback address of its own with a device cookie (device: its
// value; none if empty) and answers what the client saw and the device cookie it was given.
func deviceLogin(t *testing.T, inst *instancetest.Instance, local, email, password, device string) (attempt, *http.Cookie) {
	t.Helper()
	var header []string
	if device != "" {
		header = []string{"Cookie", "wg_device=" + device}
	}
	res, b, err := postFrom(local, inst.URL+"/api/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password), header...)
	if err != nil {
		t.Fatal(err)
	}
	secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	var given *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "wg_device" {
			given = c
		}
	}
	return attempt{res.StatusCode, (&instancetest.Response{Body: b}).ErrorCode(), secs}, given
}

// A stranger with many networks can keep an address locked for clients it does not know — one
// wrong guess per 30 s — but not for the resident's own devices: a device that logged in
// before brings back its device cookie and gets in with the right password, even from a
// network the stranger shares and has locked. A device cookie of another address, one that
// never was, or one that is not a cookie as issued, is a stranger's. Default limits.
func TestStrangerCannotHoldTheResidentsDevicesOut(t *testing.T) {
	if raceDetector {
		t.Skip("hundreds of sequential logins, argon2-bound; run without the race detector (make test's second pass)")
	}
	t.Parallel()
	wall := &wallClock{t: time.Now().UTC().Truncate(time.Microsecond)}
	inst := instancetest.Start(t, instancetest.Options{RateLimits: &httpapi.RateLimits{}, Accounts: account.Options{Wall: wall}})
	ada, ben := inst.Resident("Ada", lat, lon), inst.Resident("Ben", lat, lon)
	pw := instancetest.ResidentPassword

	// Ada's laptop logs in once, long before, and keeps its device cookie; so does Ben's.
	a, laptop := deviceLogin(t, inst, "127.0.3.1", ada.Email, pw, "")
	if a.status != http.StatusOK || laptop == nil {
		t.Fatalf("Ada's first login: %+v, device cookie %v", a, laptop)
	}
	if !laptop.HttpOnly || laptop.SameSite != http.SameSiteStrictMode || laptop.Path != "/api/auth/login" ||
		laptop.Expires.Before(time.Now().Add(179*24*time.Hour)) {
		t.Errorf("device cookie %s: want HttpOnly, SameSite=Strict, Path=/api/auth/login, half a year", laptop)
	}
	_, bens := deviceLogin(t, inst, "127.0.3.2", ben.Email, pw, "")
	if bens == nil {
		t.Fatal("Ben's login gave no device cookie")
	}
	wall.Add(time.Hour)

	// The stranger: 100 wrong guesses from 25 networks (the first of them, 127.0.1.1, is
	// the router Ada's laptop will use), then one more per 30 s from a new network.
	for c := range 25 {
		for i := range 4 {
			if a := loginFrom(t, inst, fmt.Sprintf("127.0.1.%d", c+1), ada.Email, fmt.Sprintf("falsch %d", i)); a.status != http.StatusUnauthorized {
				t.Fatalf("guess %d from network %d: %+v, want 401", i+1, c+1, a)
			}
		}
	}
	if a := loginFrom(t, inst, "127.0.1.1", ada.Email, "falsch 4"); a.code != "login_locked" {
		t.Fatalf("the stranger's fifth guess from 127.0.1.1: %+v, want 429 login_locked", a)
	}
	locked := attempt{http.StatusTooManyRequests, "login_locked", 30}
	for round := range 4 {
		if round > 0 {
			wall.Add(21 * time.Second)
			if a := loginFrom(t, inst, fmt.Sprintf("127.0.4.%d", round), ada.Email, "noch ein Versuch"); a.status != http.StatusUnauthorized {
				t.Fatalf("round %d: the stranger's guess as the slot opens: %+v, want 401", round, a)
			}
		}
		wall.Add(10 * time.Second)
		// A client the address does not know: locked out, and told the pace, not the 20 s
		// left until the stranger's next slot.
		if a, c := deviceLogin(t, inst, fmt.Sprintf("127.0.5.%d", round+1), ada.Email, pw, ""); a != locked || c != nil {
			t.Errorf("round %d: a new client with the right password: %+v (cookie %v), want %+v", round, a, c, locked)
		}
		// Ada's laptop, behind the stranger's locked router: in, and its cookie kept alive.
		a, c := deviceLogin(t, inst, "127.0.1.1", ada.Email, pw, laptop.Value)
		if a.status != http.StatusOK || c == nil || c.Value != laptop.Value {
			t.Errorf("round %d: Ada's laptop with the right password: %+v (cookie %v), want 200 and the same device", round, a, c)
		}
	}

	// Not a device of Ada's address: Ben's, one that never was, one not as issued.
	for _, d := range []string{bens.Value, strings.Repeat("A", len(laptop.Value)), "garbage; x=y", strings.Repeat("x", 4000)} {
		if a, _ := deviceLogin(t, inst, "127.0.6.1", ada.Email, pw, d); a != locked {
			t.Errorf("device cookie %.20q: %+v, want %+v", d, a, locked)
		}
	}

	// The laptop is counted on its own: five wrong passwords lock it, and its right one
	// then too, but nobody else's device.
	for i := range 5 {
		if a, _ := deviceLogin(t, inst, "127.0.1.1", ada.Email, fmt.Sprintf("vertippt %d", i), laptop.Value); a.status != http.StatusUnauthorized {
			t.Fatalf("the laptop's wrong password %d: %+v, want 401", i+1, a)
		}
	}
	if a, _ := deviceLogin(t, inst, "127.0.1.1", ada.Email, pw, laptop.Value); a.code != "login_locked" {
		t.Errorf("the laptop after five wrong passwords: %+v, want 429 login_locked", a)
	}

	// A device not used to log in for 180 days is forgotten: the ones the residents
	// registered from, and Ben's, an hour older than the laptop's last login.
	wall.Add(account.DeviceLifetime - time.Second)
	if n, err := inst.Accounts.SweepDevices(context.Background()); err != nil || n != 3 {
		t.Errorf("sweep after 180 days: %d devices deleted (%v), want 3", n, err)
	}
	if n := inst.Count(`SELECT count(*) FROM login_devices`); n != 1 {
		t.Errorf("%d devices left, want the laptop", n)
	}
}

// A login that succeeds and a failed one from the same network to the same address, at once:
// both lock the address's two counts, and must do so in one order. Forced deterministically:
// a trigger holds the success once it has locked the first row it updates, a failed attempt
// is let run until it waits for a lock, and then the success goes on. Locking in different
// orders, the two deadlock and one login answers 500.
func TestLoginSuccessAndFailureDoNotDeadlock(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	ctx := context.Background()
	// An address whose count from 127.0.0.1 sorts before its count across networks (keysOf),
	// the order in which a failed attempt locks them and the success used not to.
	var email string
	for i := 0; ; i++ {
		email = fmt.Sprintf("knoten%d@example.org", i)
		k, _ := account.EmailKey(email)
		client := sha256.Sum256(append(k[:], "127.0.0.1/32"...))
		if bytes.Compare(client[:], k[:]) < 0 {
			break
		}
	}
	inst.Client().Post("/api/auth/register", map[string]any{"name": "Nora", "address": "Weg 1", "lat": lat, "lon": lon,
		"email": email, "password": "lange genug"}).Expect(t, http.StatusAccepted)
	pgtest.DDL(t, ctx, inst.Pool, `
CREATE FUNCTION hold_success() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock_shared(4711); RETURN NEW; END $$;
CREATE TRIGGER hold_success BEFORE UPDATE ON login_failures FOR EACH ROW
WHEN (NEW.attempts < OLD.attempts) EXECUTE FUNCTION hold_success();`)
	waitFor := func(what, query string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for inst.Count(query) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 30 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	login := func(password string, out chan<- int) {
		res, _, err := postFrom("127.0.0.1", inst.URL+"/api/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
		if err != nil {
			out <- 0
			return
		}
		out <- res.StatusCode
	}
	for round := range 3 {
		hold, err := inst.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hold.Exec(ctx, `SELECT pg_advisory_lock(4711)`); err != nil {
			t.Fatal(err)
		}
		success, failure := make(chan int, 1), make(chan int, 1)
		go login("lange genug", success)
		waitFor("success held by the trigger", `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`)
		go login("falsch falsch", failure)
		waitFor("failed attempt waiting for a row", `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event IN ('transactionid', 'tuple')`)
		if _, err := hold.Exec(ctx, `SELECT pg_advisory_unlock(4711)`); err != nil {
			t.Fatal(err)
		}
		hold.Release()
		if s, f := <-success, <-failure; s != http.StatusOK || f != http.StatusUnauthorized {
			t.Fatalf("round %d: the right password %d, the wrong one %d at once; want 200 and 401", round, s, f)
		}
	}
}

// Registrations the rules refuse cost the instance a decode and the checks; a flood of them
// from one client meets a limit, counted before the body is read. Default limits.
func TestRefusedRegistrationFloodIsLimited(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{RateLimits: &httpapi.RateLimits{}})
	c := inst.Client()
	for i := range 1000 {
		res := c.Post("/api/auth/register", map[string]any{"name": "Flut", "address": "Weg 1", "lat": lat, "lon": lon,
			"email": fmt.Sprintf("flut%d@example.org", i), "password": "password123"})
		if res.Status == http.StatusTooManyRequests {
			if i < 60 || res.ErrorCode() != "rate_limited" || res.Header.Get("Retry-After") == "" {
				t.Errorf("refused registration %d: %d %s (Retry-After %q), want 429 rate_limited after 60", i+1, res.Status, res.Body, res.Header.Get("Retry-After"))
			}
			return
		}
		if res.Status != http.StatusUnprocessableEntity {
			t.Fatalf("refused registration %d: %d %s, want 422", i+1, res.Status, res.Body)
		}
	}
	t.Error("1,000 refused registrations from one client, none limited")
}

// The limits of registrations that act are asked before the bounds are checked, which takes a
// query: once an address has used its registrations, the next is refused by the limit alone.
func TestRegistrationLimitComesBeforeTheBoundsQuery(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Bounds: lindenau, RateLimits: &httpapi.RateLimits{}})
	reg := func(lat, lon float64) *instancetest.Response {
		return inst.Client().Post("/api/auth/register", map[string]any{"name": "Jana", "address": "Weg 1", "lat": lat, "lon": lon,
			"email": "jana@example.org", "password": "lange genug"})
	}
	for range 3 {
		reg(lat, lon).Expect(t, http.StatusAccepted)
	}
	if res := reg(52.52, 13.40); res.Status != http.StatusTooManyRequests {
		t.Errorf("a fourth registration for the address, from Berlin: %d %s, want 429 before the bounds are asked", res.Status, res.Body)
	}
}
