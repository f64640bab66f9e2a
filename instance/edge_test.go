package instance_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weltgewebe/weltgewebe/instance/captcha"
	"github.com/weltgewebe/weltgewebe/instance/httpapi"
	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
)

// Registration needs a solved captcha when it is on: without one, with one that is not ours
// or was tampered with, with one that expired, or with one used before — on this replica or
// another — it is refused with the code the web app explains, on the field "altcha", and
// nothing is written. A solved one goes through once.
func TestCaptchaOnRegistration(t *testing.T) {
	t.Parallel()
	opts := instancetest.Options{Captcha: true, CaptchaOptions: captcha.Options{MaxNumber: 5000, TTL: 20 * time.Minute}}
	a := instancetest.Start(t, opts)
	opts.ReplicaOf = a
	b := instancetest.Start(t, opts)

	n := 0
	register := func(inst *instancetest.Instance, altcha any, password string) *instancetest.Response {
		n++
		body := map[string]any{"name": "Nele Neu", "address": "Weg 1", "lat": lat, "lon": lon,
			"email": fmt.Sprintf("nele%d@example.org", n), "password": password}
		if altcha != nil {
			body["altcha"] = altcha
		}
		return inst.Client().Post("/api/auth/register", body)
	}
	refused := func(what string, res *instancetest.Response, code string) {
		t.Helper()
		var e struct {
			Error struct{ Code, Field string } `json:"error"`
		}
		_ = json.Unmarshal(res.Body, &e)
		if res.Status != http.StatusUnprocessableEntity || e.Error.Code != code || e.Error.Field != "altcha" {
			t.Errorf("%s: %d %s, want 422 %s on altcha", what, res.Status, res.Body, code)
		}
	}
	var ch captcha.Challenge
	a.Client().Get("/api/captcha").Expect(t, http.StatusOK).JSON(t, &ch)
	if ch.Algorithm != "SHA-256" || ch.MaxNumber != 5000 || !strings.Contains(ch.Salt, "?expires=") || len(ch.Signature) != 64 {
		t.Fatalf("challenge: %+v", ch)
	}
	solved, err := captcha.Solve(ch)
	if err != nil {
		t.Fatal(err)
	}
	// The widget's test mode sends this; and a solution with another number.
	testMode := base64.StdEncoding.EncodeToString([]byte(`{"challenge":null,"solution":null,"test":true}`))
	var p map[string]any
	raw, _ := base64.StdEncoding.DecodeString(solved)
	_ = json.Unmarshal(raw, &p)
	p["number"] = p["number"].(float64) + 1
	wrong, _ := json.Marshal(p)
	// A challenge made with another key (another instance's, or a forger's).
	foreign := ch
	foreign.Signature = strings.Repeat("0", 64)
	forged, _ := captcha.Solve(foreign)

	before := a.Rows()
	refused("no captcha", register(a, nil, "lange genug"), "captcha_required")
	refused("empty captcha", register(a, "", "lange genug"), "captcha_required")
	refused("not base64", register(a, "kein base64!", "lange genug"), "captcha_invalid")
	refused("test mode", register(a, testMode, "lange genug"), "captcha_invalid")
	refused("wrong number", register(a, base64.StdEncoding.EncodeToString(wrong), "lange genug"), "captcha_invalid")
	refused("foreign signature", register(a, forged, "lange genug"), "captcha_invalid")
	if res := register(a, 42, "lange genug"); res.Status != http.StatusBadRequest || res.ErrorCode() != "invalid_field_type" {
		t.Errorf("altcha not a string: %d %s", res.Status, res.Body)
	}
	if after := a.Rows(); !maps.Equal(before, after) {
		t.Errorf("refused registrations wrote: %v → %v", before, after)
	}

	// A refused password does not spend the solution; the corrected form goes through with it.
	if res := register(a, solved, "password"); res.ErrorCode() != "invalid_password" {
		t.Fatalf("weak password with a solved captcha: %d %s", res.Status, res.Body)
	}
	register(a, solved, "lange genug").Expect(t, http.StatusAccepted)
	refused("the same solution again", register(a, solved, "lange genug"), "captcha_replayed")
	refused("the same solution at the other replica", register(b, solved, "lange genug"), "captcha_replayed")

	// A challenge one replica issued is good at the other (one key for all).
	var chB captcha.Challenge
	b.Client().Get("/api/captcha").Expect(t, http.StatusOK).JSON(t, &chB)
	solvedB, _ := captcha.Solve(chB)
	register(a, solvedB, "lange genug").Expect(t, http.StatusAccepted)
	// Residents registered by the rig solve it too.
	a.Resident("Ria", lat, lon)

	// Solved but used too late: expired. The sweep then forgets the spent ones.
	late, _ := captcha.Solve(func() captcha.Challenge {
		var c captcha.Challenge
		a.Client().Get("/api/captcha").Expect(t, http.StatusOK).JSON(t, &c)
		return c
	}())
	if spent := a.Count(`SELECT count(*) FROM captcha_spent`); spent != 3 {
		t.Errorf("%d spent challenges recorded, want 3", spent)
	}
	// Both replicas' clocks: the sweep runs on whichever of them leads the job queue.
	b.Advance("21m")
	a.Advance("21m")
	refused("expired", register(a, late, "lange genug"), "captcha_expired")
	refused("expired and spent", register(a, solved, "lange genug"), "captcha_expired")
	instancetest.WaitFor(t, "the sweep to forget expired spent challenges", func() bool {
		return a.Count(`SELECT count(*) FROM captcha_spent`) == 0
	})
}

// With the captcha's default (WG_CAPTCHA=on: register,login-after-failures) a login needs a
// solved captcha once the lockout has counted three failures for it: from this client to the
// address, or to the address from all clients it does not know. Refused without one (nothing
// counted: the lockout's five are not used up by those), accepted with one, and a solution
// serves one login. A resident's own device, which logged in before, is not asked.
func TestCaptchaOnLoginAfterFailures(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Captcha: true, CaptchaOptions: captcha.Options{MaxNumber: 5000}})
	anna := inst.Resident("Anna", lat, lon) // registered and logged in: her device is known
	login := func(c *instancetest.Client, password string, altcha any) *instancetest.Response {
		body := map[string]any{"email": anna.Email, "password": password}
		if altcha != nil {
			body["altcha"] = altcha
		}
		return c.Post("/api/auth/login", body)
	}
	refused := func(what string, res *instancetest.Response, status int, code string) {
		t.Helper()
		var e struct {
			Error struct{ Code, Field string } `json:"error"`
		}
		_ = json.Unmarshal(res.Body, &e)
		if res.Status != status || e.Error.Code != code || (code != "invalid_credentials" && e.Error.Field != "altcha") {
			t.Errorf("%s: %d %s, want %d %s", what, res.Status, res.Body, status, code)
		}
	}

	guest := inst.Client()
	for i := range captcha.LoginFailures {
		refused(fmt.Sprintf("wrong password %d, no captcha yet", i+1), login(guest, "falsch", nil), http.StatusUnauthorized, "invalid_credentials")
	}
	for range 5 {
		refused("right password after three failures, no captcha", login(guest, instancetest.ResidentPassword, nil), http.StatusUnprocessableEntity, "captcha_required")
	}
	refused("not base64", login(guest, instancetest.ResidentPassword, "kein base64!"), http.StatusUnprocessableEntity, "captcha_invalid")
	// Counted again only with a solution: the fourth failure, not the ninth (a lock).
	refused("wrong password with a solved captcha", login(guest, "falsch", instancetest.SolveCaptcha(t, guest)), http.StatusUnauthorized, "invalid_credentials")
	solved := instancetest.SolveCaptcha(t, guest)
	login(guest, instancetest.ResidentPassword, solved).Expect(t, http.StatusOK)

	// The address has failed from elsewhere: another new client is asked too; Anna's own
	// device (its wg_device cookie) is not.
	other := inst.Client()
	refused("a new client to the address that failed", login(other, instancetest.ResidentPassword, nil), http.StatusUnprocessableEntity, "captcha_required")
	refused("a new client with a spent solution", login(other, instancetest.ResidentPassword, solved), http.StatusUnprocessableEntity, "captcha_replayed")
	login(other, instancetest.ResidentPassword, instancetest.SolveCaptcha(t, other)).Expect(t, http.StatusOK)
	login(anna, instancetest.ResidentPassword, nil).Expect(t, http.StatusOK)

	// Another address, never failed: no captcha.
	bert := inst.Resident("Bert", lat, lon)
	inst.Client().Post("/api/auth/login", map[string]any{"email": bert.Email, "password": instancetest.ResidentPassword}).Expect(t, http.StatusOK)
}

// Without the captcha (WG_CAPTCHA=off) GET /api/captcha says so, and registration takes none.
func TestCaptchaOff(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t)
	if res := inst.Client().Get("/api/captcha"); res.Status != http.StatusNotFound || res.ErrorCode() != "captcha_off" {
		t.Errorf("GET /api/captcha with the captcha off: %d %s", res.Status, res.Body)
	}
	inst.Resident("Ohne", lat, lon)
}

// fakeBlocks blocks the addresses in its prefixes, and notes what it was asked.
type fakeBlocks struct {
	prefixes []netip.Prefix
	mu       sync.Mutex
	asked    map[string]bool
}

func (f *fakeBlocks) Blocked(addr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked[addr] = true
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range f.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// An address the admins blocked may read, but not register, log in or write: 403 ip_blocked,
// whether it connects itself or through a trusted proxy; nothing is written. Other addresses
// go on, and a blocked client's spoofed X-Forwarded-For does not get it past.
func TestIPBlocksAtTheEdge(t *testing.T) {
	t.Parallel()
	blocks := &fakeBlocks{prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.7/32"), netip.MustParsePrefix("2001:db8:bad::/48")},
		asked: map[string]bool{}}
	inst := instancetest.Start(t, instancetest.Options{IPBlocks: blocks, RateLimits: &httpapi.RateLimits{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}}})
	ada := inst.Resident("Ada", lat, lon)
	// Ada's session, for requests from the addresses below.
	res, body, err := postFrom("127.0.0.8", inst.URL+"/api/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, ada.Email, instancetest.ResidentPassword))
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("login from 127.0.0.8: %v %s", err, body)
	}
	var cookie string
	for _, c := range res.Cookies() {
		if c.Name == "wg_session" {
			cookie = c.Name + "=" + c.Value
		}
	}
	reg := fmt.Sprintf(`{"name":"Nele","address":"Weg 1","lat":%v,"lon":%v,"email":"nele@example.org","password":"lange genug"}`, lat, lon)
	knoten := fmt.Sprintf(`{"type":"idee","title":"Bank","lat":%v,"lon":%v}`, lat, lon)
	login := fmt.Sprintf(`{"email":%q,"password":%q}`, ada.Email, instancetest.ResidentPassword)
	before := inst.Rows()
	for _, tc := range []struct {
		from, path, body string
		header           []string
		want             int
	}{
		{"127.0.0.7", "/api/auth/register", reg, nil, 403},
		{"127.0.0.7", "/api/auth/login", login, nil, 403},
		{"127.0.0.7", "/api/knoten", knoten, []string{"Cookie", cookie}, 403},
		{"127.0.0.7", "/api/knoten", knoten, []string{"Cookie", cookie, "X-Forwarded-For", "198.51.100.1"}, 403}, // not a proxy: ignored
		{"127.0.0.9", "/api/knoten", knoten, []string{"Cookie", cookie, "X-Forwarded-For", "127.0.0.7"}, 403},    // the proxy names it
		{"127.0.0.9", "/api/knoten", knoten, []string{"Cookie", cookie, "X-Forwarded-For", "2001:db8:bad:1::5"}, 403},
		{"127.0.0.9", "/api/knoten", knoten, []string{"Cookie", cookie, "X-Real-IP", "127.0.0.7"}, 403},
	} {
		res, body, err := postFrom(tc.from, inst.URL+tc.path, tc.body, tc.header...)
		if err != nil {
			t.Fatal(err)
		}
		if code := (&instancetest.Response{Body: body}).ErrorCode(); res.StatusCode != tc.want || code != "ip_blocked" {
			t.Errorf("POST %s from %s %v: %d %s, want %d ip_blocked", tc.path, tc.from, tc.header, res.StatusCode, body, tc.want)
		}
	}
	if after := inst.Rows(); !maps.Equal(before, after) {
		t.Errorf("blocked requests wrote: %v → %v", before, after)
	}
	// Reads stay open to the blocked address.
	if res, err := getFrom("127.0.0.7", inst.URL+"/api/knoten?bbox=12.3,51.3,12.4,51.4"); err != nil || res != http.StatusOK {
		t.Errorf("read from a blocked address: %d %v", res, err)
	}
	// Others write; through the proxy, a client it names that is not blocked too.
	for _, tc := range []struct{ from, forwarded string }{{"127.0.0.8", ""}, {"127.0.0.9", "198.51.100.1"}} {
		res, body, err := postFrom(tc.from, inst.URL+"/api/knoten", knoten, "Cookie", cookie, "X-Forwarded-For", tc.forwarded)
		if err != nil || res.StatusCode != http.StatusCreated {
			t.Errorf("write from %s for %q: %v %s", tc.from, tc.forwarded, err, body)
		}
	}
	blocks.mu.Lock()
	defer blocks.mu.Unlock()
	for _, addr := range []string{"127.0.0.7", "2001:db8:bad:1::5", "198.51.100.1", "127.0.0.8"} {
		if !blocks.asked[addr] {
			t.Errorf("the blocks were not asked about %s (asked: %v)", addr, blocks.asked)
		}
	}
}

func getFrom(local, url string) (int, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 60 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// Chat messages have their own limit, stricter than other writes: a resident's flood of
// messages meets it (429 with Retry-After), while the resident's other writes and other
// residents' messages go on. WebSocket openings are limited per address.
func TestChatAndSocketLimits(t *testing.T) {
	t.Parallel()
	hour := time.Hour
	inst := instancetest.Start(t, instancetest.Options{RateLimits: &httpapi.RateLimits{Rules: []httpapi.Rule{
		{Class: httpapi.ClassChat, Scope: httpapi.PerAccount, Burst: 3, Every: hour},
		{Class: httpapi.ClassChat, Scope: httpapi.PerIP, Burst: 100, Every: hour},
		{Class: httpapi.ClassWrite, Scope: httpapi.PerAccount, Burst: 100, Every: hour},
		{Class: httpapi.ClassSocket, Scope: httpapi.PerIP, Burst: 2, Every: hour},
	}}})
	ada, ben := inst.Resident("Ada", lat, lon), inst.Resident("Ben", lat, lon)
	for i := range 3 {
		ada.Post("/api/chat", map[string]string{"text": fmt.Sprintf("Hallo %d", i)}).Expect(t, http.StatusCreated)
	}
	res := ada.Post("/api/chat", map[string]string{"text": "Hallo 4"}).Expect(t, http.StatusTooManyRequests)
	if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || secs < 3500 || res.ErrorCode() != "rate_limited" {
		t.Errorf("fourth message: %s Retry-After %q", res.Body, res.Header.Get("Retry-After"))
	}
	if got := inst.Count(`SELECT count(*) FROM chat_nachrichten`); got != 3 {
		t.Errorf("%d messages stored, want 3", got)
	}
	ben.Post("/api/chat", map[string]string{"text": "Hallo von Ben"}).Expect(t, http.StatusCreated)
	ada.Post("/api/knoten", map[string]any{"type": "idee", "title": "Bank", "lat": lat, "lon": lon}).Expect(t, http.StatusCreated)

	// Sockets: two openings from one address, then 429 until the bucket refills.
	dial := func(local string) (int, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		ctx, cancel := context.WithTimeout(context.Background(), instancetest.Patience)
		defer cancel()
		conn, resp, err := websocket.Dial(ctx, strings.Replace(inst.URL, "http://", "ws://", 1)+"/ws/chat",
			&websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}})
		if conn != nil {
			conn.CloseNow()
		}
		if resp == nil {
			return 0, err
		}
		return resp.StatusCode, nil
	}
	for i, want := range []int{101, 101, 429} {
		if got, err := dial("127.0.0.2"); got != want {
			t.Errorf("socket %d from 127.0.0.2: %d (%v), want %d", i+1, got, err, want)
		}
	}
	if got, err := dial("127.0.0.3"); got != 101 {
		t.Errorf("socket from 127.0.0.3: %d (%v), want 101", got, err)
	}
}

// A registration the limits refuse does not spend its solved captcha: the resident who waits
// sends the same form again.
func TestLimitedRegistrationKeepsItsCaptcha(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Captcha: true, CaptchaOptions: captcha.Options{MaxNumber: 5000},
		RateLimits: &httpapi.RateLimits{Rules: []httpapi.Rule{{Class: httpapi.ClassRegister, Scope: httpapi.PerAccount, Burst: 1, Every: time.Hour}}}})
	c := inst.Client()
	register := func(email, altcha string) *instancetest.Response {
		return c.Post("/api/auth/register", map[string]any{"name": "Nele Neu", "address": "Weg 1", "lat": lat, "lon": lon,
			"email": email, "password": "lange genug", "altcha": altcha})
	}
	register("nele@example.org", instancetest.SolveCaptcha(t, c)).Expect(t, http.StatusAccepted)
	second := instancetest.SolveCaptcha(t, c)
	if res := register("nele@example.org", second); res.Status != http.StatusTooManyRequests || res.ErrorCode() != "rate_limited" {
		t.Fatalf("second registration of one address: %d %s", res.Status, res.Body)
	}
	register("nele.neu@example.org", second).Expect(t, http.StatusAccepted)
	if n := inst.Count(`SELECT count(*) FROM captcha_spent`); n != 2 {
		t.Errorf("%d solutions spent, want 2", n)
	}
}

// A replayed solution is refused before the limits count it: it does not take its address's
// registrations (with a limit of 2 an address, the resident's second goes through after ten
// replays).
func TestReplayedCaptchaTakesNoRegistration(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{Captcha: true, CaptchaOptions: captcha.Options{MaxNumber: 5000},
		RateLimits: &httpapi.RateLimits{Rules: []httpapi.Rule{{Class: httpapi.ClassRegister, Scope: httpapi.PerIP, Burst: 2, Every: time.Hour}}}})
	c := inst.Client()
	n := 0
	register := func(altcha string) *instancetest.Response {
		n++
		return c.Post("/api/auth/register", map[string]any{"name": "Nele Neu", "address": "Weg 1", "lat": lat, "lon": lon,
			"email": fmt.Sprintf("nele%d@example.org", n), "password": "lange genug", "altcha": altcha})
	}
	used := instancetest.SolveCaptcha(t, c)
	register(used).Expect(t, http.StatusAccepted)
	for range 10 {
		if res := register(used); res.Status != http.StatusUnprocessableEntity || res.ErrorCode() != "captcha_replayed" {
			t.Fatalf("replayed solution: %d %s, want 422 captcha_replayed", res.Status, res.Body)
		}
	}
	register(instancetest.SolveCaptcha(t, c)).Expect(t, http.StatusAccepted)
	if res := register(instancetest.SolveCaptcha(t, c)); res.ErrorCode() != "rate_limited" {
		t.Errorf("third registration from the address: %d %s, want 429 rate_limited", res.Status, res.Body)
	}
}

// The admins' block (POST /api/admin/ipsperren, the moderation's store) is what the edge asks:
// once it is in force, a write from the range is refused, on this instance and through a
// trusted proxy; other addresses write on.
func TestAdminIPBlockRefusesWritesAtTheEdge(t *testing.T) {
	t.Parallel()
	inst := instancetest.Start(t, instancetest.Options{RateLimits: &httpapi.RateLimits{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.9/32")}}})
	ada := inst.Resident("Ada", lat, lon)
	res, body, err := postFrom("127.0.0.8", inst.URL+"/api/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, ada.Email, instancetest.ResidentPassword))
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("login: %v %s", err, body)
	}
	cookie := ""
	for _, c := range res.Cookies() {
		if c.Name == "wg_session" {
			cookie = c.Name + "=" + c.Value
		}
	}
	inst.Admin().Post("/api/admin/ipsperren", map[string]any{"cidr": "198.51.100.0/24", "days": 0, "reason": "Spam-Welle"}).Expect(t, http.StatusCreated)
	knoten := fmt.Sprintf(`{"type":"idee","title":"Bank","lat":%v,"lon":%v}`, lat, lon)
	write := func(forwarded string) (int, string) {
		res, body, err := postFrom("127.0.0.9", inst.URL+"/api/knoten", knoten, "Cookie", cookie, "X-Forwarded-For", forwarded)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, (&instancetest.Response{Body: body}).ErrorCode()
	}
	instancetest.WaitFor(t, "the block to be in force", func() bool {
		s, code := write("198.51.100.7")
		return s == http.StatusForbidden && code == "ip_blocked"
	})
	if s, code := write("203.0.113.7"); s != http.StatusCreated {
		t.Errorf("write from another address: %d %s", s, code)
	}
}
