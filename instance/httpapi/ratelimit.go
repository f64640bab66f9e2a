package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// Rate limits: token buckets (golang.org/x/time/rate) per client address and per account, for
// logins, registrations and every write. They are per process: with several replicas behind a
// load balancer a client gets up to that many times the rate. What must hold across replicas
// — that guessing one account's password stops — is the lockout in the database
// (account.Lockout), which counts per address and client network; these limits keep one client
// from taking a process's time and memory.
//
// Every key is of bounded size whatever the client sends — a client network, an account id, an
// email address's SHA-256 (account.EmailKey) — so that a full table is bounded too: about
// 15 MiB a rule (OPERATIONS.md).

// Class is a kind of request the limits tell apart.
type Class string

const (
	ClassLogin    Class = "login"    // POST /api/auth/login
	ClassRegister Class = "register" // POST /api/auth/register, once checked and about to act
	ClassWrite    Class = "write"    // every other POST, PUT, PATCH and DELETE under /api/
	ClassChat     Class = "chat"     // POST /api/chat, /api/streams/{id}/chat: a message to a chat room
	ClassVote     Class = "vote"     // PUT /api/streams/{id}/chat/{message}/vote: a vote in a stream's chat
	ClassReport   Class = "report"   // POST /api/meldungen: a report to the moderators

	// ClassRegisterRequest is every POST /api/auth/register, counted before it is read: the
	// bound on what refused registrations (which ClassRegister leaves alone) cost.
	ClassRegisterRequest Class = "register_request"
	// ClassSocket is the opening of a WebSocket (/ws/map, /ws/chat): each holds a connection
	// and a goroutine for as long as the client likes. The sockets take nothing from the
	// client (the chat is written through POST /api/chat), so the opening is what is counted.
	ClassSocket Class = "socket"
	// ClassInbox is an activity delivered to an ActivityPub inbox, counted per remote host once
	// its signature is verified (federation's InboxLimit): a host cannot spend another's.
	ClassInbox Class = "inbox"
)

// Scope is what a limit counts by.
type Scope string

const (
	// PerIP counts by client address: an IPv4 address, or an IPv6 /64 (one connection's
	// network, which its owner can fill with as many addresses as it likes).
	PerIP Scope = "ip"
	// PerAccount counts by the address typed (registration) or the session's account
	// (writes). Logins have none: the lockout counts them per address and client network.
	PerAccount Scope = "account"
	// PerHost counts by the remote server (the host of the verified signature's key).
	PerHost Scope = "host"
)

// Rule is one line of the limits table: a bucket of Burst requests, refilled at one per Every.
type Rule struct {
	Class Class
	Scope Scope
	Burst int
	Every time.Duration
}

// DefaultRules is the limits table. A resident never meets them; a registration evening at the
// Stadtteilladen, with thirty people behind one router, does not either.
//
// Each request meets the rules of its own class (classOf): a chat message counts as chat, not
// as a write. Operators change single lines with --rate-limit (ParseRules; OPERATIONS.md).
var DefaultRules = []Rule{
	{ClassLogin, PerIP, 30, 6 * time.Second},              // 30 at once, then 10 a minute
	{ClassRegisterRequest, PerIP, 60, time.Second},        // refused ones too: a flood meets it, a resident retrying does not
	{ClassRegister, PerIP, 30, 2 * time.Minute},           // 30 at once, then 30 an hour
	{ClassRegister, PerAccount, 3, 20 * time.Minute},      // bounds the notices one address is sent
	{ClassWrite, PerIP, 600, 100 * time.Millisecond},      // 10 a second for everyone behind one address
	{ClassWrite, PerAccount, 120, 500 * time.Millisecond}, // 2 a second
	{ClassChat, PerIP, 120, 500 * time.Millisecond},       // a room full of residents behind one router
	{ClassChat, PerAccount, 20, 3 * time.Second},          // 20 at once, then 20 a minute: a conversation, not a flood
	{ClassVote, PerIP, 600, 100 * time.Millisecond},       // a full hall voting along with the assembly
	{ClassVote, PerAccount, 30, time.Second},              // 30 at once, then one a second: clicking along, not a script
	{ClassReport, PerIP, 30, time.Minute},                 // 30 at once, then one a minute
	{ClassReport, PerAccount, 10, 6 * time.Minute},        // 10 at once, then 10 an hour
	{ClassSocket, PerIP, 200, time.Second},                // each tab opens two: a full room behind one router reconnecting after a restart
	{ClassInbox, PerHost, 600, 20 * time.Millisecond},     // 50 a second a server: a large one's fan-out after a popular post
}

// ParseRules applies overrides to base, one per comma-separated "class/scope=burst/every"
// (e.g. "chat/account=40/1s,inbox/host=1000/10ms"): the line of that class and scope is
// replaced, or added when base has none. Burst 0 switches the line off.
func ParseRules(s string, base []Rule) ([]Rule, error) {
	out := append([]Rule(nil), base...)
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		key, val, ok := strings.Cut(f, "=")
		cs, ss, ok1 := strings.Cut(key, "/")
		bs, es, ok2 := strings.Cut(val, "/")
		if !ok || !ok1 || !ok2 {
			return nil, fmt.Errorf("rate limit %q: want class/scope=burst/every, e.g. chat/account=20/3s", f)
		}
		class, scope := Class(strings.TrimSpace(cs)), Scope(strings.TrimSpace(ss))
		if !slices.Contains(knownClasses, class) {
			return nil, fmt.Errorf("rate limit %q: no class %q (classes: %v)", f, class, knownClasses)
		}
		if scope != PerIP && scope != PerAccount && scope != PerHost {
			return nil, fmt.Errorf("rate limit %q: scope is ip, account or host", f)
		}
		burst, err := strconv.Atoi(strings.TrimSpace(bs))
		every, err2 := time.ParseDuration(strings.TrimSpace(es))
		if err != nil || err2 != nil || burst < 0 || every <= 0 {
			return nil, fmt.Errorf("rate limit %q: burst is a whole number, every a duration such as 3s", f)
		}
		r := Rule{class, scope, burst, every}
		i := slices.IndexFunc(out, func(o Rule) bool { return o.Class == class && o.Scope == scope })
		switch {
		case i >= 0 && burst == 0:
			out = slices.Delete(out, i, i+1)
		case i >= 0:
			out[i] = r
		case burst > 0:
			out = append(out, r)
		}
	}
	return out, nil
}

var knownClasses = []Class{ClassLogin, ClassRegister, ClassRegisterRequest, ClassWrite, ClassChat, ClassVote, ClassReport, ClassSocket, ClassInbox}

// RateLimits configure the limits.
type RateLimits struct {
	// Rules replace DefaultRules when not nil.
	Rules []Rule
	// Off switches the limits off (tests that register dozens of residents from 127.0.0.1).
	Off bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed: for a request
	// from one of them, the client is the last address in the header that is not a trusted
	// proxy itself. Requests from anywhere else are counted by their own address, whatever
	// header they carry.
	TrustedProxies []netip.Prefix
	// Keys bounds the keys each rule remembers (default 65536): the least recently seen is
	// forgotten first, and a forgotten key starts again with a full bucket.
	Keys int
}

// ParseTrustedProxies reads a comma-separated list of CIDR prefixes or single addresses.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR prefix", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Limiter holds the token buckets of a RateLimits. One is shared by the API and the
// federation's inboxes (instance.go), so that the table is one.
type Limiter struct {
	buckets map[Class]map[Scope]*buckets
	proxies []netip.Prefix
}

// NewLimiter returns the limits c configures.
func NewLimiter(c RateLimits) *Limiter { return newLimiter(c) }

func newLimiter(c RateLimits) *Limiter {
	l := &Limiter{buckets: map[Class]map[Scope]*buckets{}, proxies: c.TrustedProxies}
	if c.Off {
		return l
	}
	rules := c.Rules
	if rules == nil {
		rules = DefaultRules
	}
	keys := c.Keys
	if keys <= 0 {
		keys = 1 << 16
	}
	for _, r := range rules {
		if l.buckets[r.Class] == nil {
			l.buckets[r.Class] = map[Scope]*buckets{}
		}
		cache, _ := simplelru.NewLRU[string, *rate.Limiter](keys, nil)
		l.buckets[r.Class][r.Scope] = &buckets{rule: r, cache: cache}
	}
	return l
}

// Allow answers nil, or the 429 rate_limited (with its Retry-After) for one more request of
// the class by key in the scope.
func (l *Limiter) Allow(class Class, scope Scope, key string) error {
	return l.allow(class, scope, key)
}

// InboxLimit is federation's InboxLimit: the limit of activities from one remote host.
func (l *Limiter) InboxLimit(host string) error { return l.allow(ClassInbox, PerHost, host) }

// buckets are one rule's token buckets, by key.
type buckets struct {
	rule  Rule
	mu    sync.Mutex
	cache *simplelru.LRU[string, *rate.Limiter]
}

// take takes a token from key's bucket, or says how long until there is one.
func (b *buckets) take(key string, now time.Time) time.Duration {
	b.mu.Lock()
	lim, ok := b.cache.Get(key)
	if !ok {
		lim = rate.NewLimiter(rate.Every(b.rule.Every), b.rule.Burst)
		b.cache.Add(key, lim)
	}
	b.mu.Unlock()
	if lim.AllowN(now, 1) {
		return 0
	}
	return time.Duration((1 - lim.TokensAt(now)) * float64(b.rule.Every))
}

// allow answers nil, or the 429 for a request of the class by key.
func (l *Limiter) allow(class Class, scope Scope, key string) error {
	b := l.buckets[class][scope]
	if b == nil {
		return nil
	}
	wait := b.take(key, time.Now())
	if wait <= 0 {
		return nil
	}
	return &fault.Error{Kind: fault.RateLimited, Code: "rate_limited", RetryAfter: wait,
		Message: fmt.Sprintf("Too many requests of this kind; try again in %d s.", respond.RetryAfterSeconds(wait))}
}

// classOf is the class of a request, or "" for one the limits here leave alone: reads, and
// what is not the API (the ActivityPub inboxes are counted per remote host once their
// signature is checked: Limiter.InboxLimit).
func classOf(r *http.Request) Class {
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/ws/") {
		return ClassSocket
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		return ""
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return ""
	}
	switch {
	case r.URL.Path == "/api/auth/login":
		return ClassLogin
	case r.URL.Path == "/api/auth/register":
		return ClassRegister
	case r.URL.Path == "/api/chat" && r.Method == http.MethodPost,
		strings.HasPrefix(r.URL.Path, "/api/streams/") && strings.HasSuffix(r.URL.Path, "/chat") && r.Method == http.MethodPost:
		return ClassChat
	case strings.HasPrefix(r.URL.Path, "/api/streams/") && strings.HasSuffix(r.URL.Path, "/vote") && r.Method == http.MethodPut:
		return ClassVote
	case r.URL.Path == "/api/meldungen" && r.Method == http.MethodPost:
		return ClassReport
	}
	return ClassWrite
}

// accountClass is the class whose per-account rule an authenticated request meets, or "".
func accountClass(r *http.Request) Class {
	switch c := classOf(r); c {
	case ClassWrite, ClassChat, ClassVote, ClassReport:
		return c
	}
	return ""
}

// clientIP is the address the request comes from: its peer's, or — when the peer is a trusted
// proxy — the nearest address in X-Forwarded-For that is not a trusted proxy (the rightmost
// untrusted hop: everything left of it was written by the client), or, from a proxy that
// sends no X-Forwarded-For, its X-Real-IP. A client that is not a trusted proxy cannot name
// an address: its headers are never read.
func (l *Limiter) clientIP(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !l.trusted(addr) {
		return addr
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	if len(hops) == 0 {
		if a, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); err == nil {
			return a.Unmap()
		}
	}
	// Right to left: each trusted proxy appended the address it got the request from.
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // what is left of it was written by the client: not to be believed
		}
		addr = a.Unmap()
		if !l.trusted(addr) {
			break
		}
	}
	return addr
}

func (l *Limiter) trusted(a netip.Addr) bool {
	for _, p := range l.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientNetwork is what a client is counted by: its IPv4 address, or its IPv6 /64 (one
// connection's network, which its owner can fill with as many addresses as it likes).
func clientNetwork(a netip.Addr) netip.Prefix {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	p, _ := a.Prefix(a.BitLen())
	return p
}

// ipKey is the per-address key of a client: its network, written out (at most 43 bytes).
func ipKey(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	return clientNetwork(a).String()
}

// limitByIP answers 403 ip_blocked to a write or registration from a blocked address, and 429
// to a request over its address's limit, before either reaches a handler. Reads stay open,
// and so does the logout. Registrations meet only the generous ClassRegisterRequest here:
// their handler asks the limits of ClassRegister once the input has been checked (register),
// so that a refused password does not count against those.
func (s *Server) limitByIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if class := classOf(r); class != "" {
			addr := s.limits.clientIP(r)
			if s.IPBlocks != nil && class != ClassSocket && r.URL.Path != "/api/auth/logout" && addr.IsValid() && s.IPBlocks.Blocked(addr.String()) {
				respond.Error(w, r, s.Log, errIPBlocked)
				return
			}
			if class == ClassRegister {
				class = ClassRegisterRequest
			}
			if err := s.limits.allow(class, PerIP, ipKey(addr)); err != nil {
				respond.Error(w, r, s.Log, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

var errIPBlocked = fault.Forbiddenf("ip_blocked",
	"Changes and registrations from this network are blocked by the Ortsweberei's admins; reading stays open.")
