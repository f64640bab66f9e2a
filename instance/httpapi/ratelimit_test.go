package httpapi

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

func TestTrustedProxiesAndClientAddress(t *testing.T) {
	proxies, err := ParseTrustedProxies(" 10.0.0.0/8, ::1 ,192.168.1.7")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTrustedProxies("10.0.0.0/8,nginx"); err == nil {
		t.Error("a host name was taken for a proxy address")
	}
	l := newLimiter(RateLimits{TrustedProxies: proxies})
	for _, tc := range []struct{ peer, forwarded, want string }{
		{"203.0.113.5:4000", "", "203.0.113.5"},
		{"203.0.113.5:4000", "real:198.51.100.1", "203.0.113.5"},              // X-Real-IP from anyone but a proxy: ignored
		{"10.1.2.3:4000", "real:198.51.100.7", "198.51.100.7"},                // from a proxy that sends only X-Real-IP
		{"10.1.2.3:4000", "real:kaputt", "10.1.2.3"},                          // unreadable: the proxy itself
		{"10.1.2.3:4000", "198.51.100.1, 10.0.0.5, 10.0.0.6", "198.51.100.1"}, // the rightmost hop that is not a proxy
		{"203.0.113.5:4000", "198.51.100.1", "203.0.113.5"},                   // not a proxy: its header is ignored
		{"10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},                     // the proxy names the client
		{"10.1.2.3:4000", "198.51.100.9, 198.51.100.1", "198.51.100.1"},       // the client's own entry is not believed
		{"10.1.2.3:4000", "198.51.100.1, 192.168.1.7", "198.51.100.1"},        // through two proxies
		{"10.1.2.3:4000", "garbage, 10.9.9.9", "10.9.9.9"},                    // unreadable: the nearest readable proxy
		{"[::1]:4000", "2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::/64"},       // IPv6 by its /64
		{"[::ffff:10.1.2.3]:4000", "198.51.100.1", "198.51.100.1"},            // an IPv4 peer on a dual stack
		{"[2001:db8::1]:4000", "", "2001:db8::/64"},
	} {
		r := httptest.NewRequest("POST", "/api/auth/login", nil)
		r.RemoteAddr = tc.peer
		if real, ok := strings.CutPrefix(tc.forwarded, "real:"); ok {
			r.Header.Set("X-Real-IP", real)
		} else if tc.forwarded != "" {
			r.Header.Set("X-Forwarded-For", tc.forwarded)
		}
		if got := ipKey(l.clientIP(r)); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tc.peer, tc.forwarded, got, tc.want)
		}
	}
}

func TestClassesAndRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         Class
	}{
		{"POST", "/api/auth/login", ClassLogin}, {"POST", "/api/auth/register", ClassRegister},
		{"POST", "/api/knoten", ClassWrite}, {"PATCH", "/api/me", ClassWrite}, {"DELETE", "/api/delegationen/x", ClassWrite},
		{"PUT", "/api/admin/ortsweberei", ClassWrite}, {"GET", "/api/knoten", ""}, {"POST", "/users/x/inbox", ""},
		{"POST", "/api/chat", ClassChat}, {"DELETE", "/api/admin/chat/x", ClassWrite}, {"GET", "/api/chat", ""},
		{"POST", "/api/meldungen", ClassReport}, {"GET", "/api/admin/meldungen", ""},
		{"GET", "/ws/chat", ClassSocket}, {"GET", "/ws/map", ClassSocket}, {"POST", "/ap/inbox", ""},
		{"POST", "/api/streams/x/chat", ClassChat}, {"PUT", "/api/streams/x/chat/y/vote", ClassVote}, {"GET", "/api/streams/x/chat", ""},
		{"POST", "/api/streams", ClassWrite}, {"POST", "/api/streams/x/end", ClassWrite}, {"GET", "/ws/streams/x/chat", ClassSocket},
	} {
		if got := classOf(httptest.NewRequest(tc.method, tc.path, nil)); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
	for d, want := range map[time.Duration]int{time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Hour: 3600} {
		if got := respond.RetryAfterSeconds(d); got != want {
			t.Errorf("Retry-After for %s: %d, want %d", d, got, want)
		}
	}
}

// Whatever a client sends, a bucket's key has a bounded size: a client network written out,
// an account id, or an address's SHA-256. So a full table — every rule holding as many keys
// as it may — takes a bounded amount of memory: about 15 MiB a rule (docs/OPERATIONS.md).
func TestLimiterKeysAndMemoryAreBounded(t *testing.T) {
	longest := netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	if k := ipKey(longest); len(k) > 43 {
		t.Errorf("key of an IPv6 client: %d bytes", len(k))
	}
	if _, err := account.EmailKey(strings.Repeat("a", 60<<10) + "@example.org"); !fault.Is(err, "invalid_email") {
		t.Errorf("a 60 KiB address got a key (%v)", err)
	}
	if k, err := account.EmailKey(strings.Repeat("a", 242) + "@example.org"); err != nil || len(k) != 32 {
		t.Errorf("the key of a 254-byte address: %d bytes, %v", len(k), err)
	}

	const keys = 1 << 16
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	l := newLimiter(RateLimits{Keys: keys})
	now := time.Now()
	for class, scopes := range l.buckets {
		for scope, b := range scopes {
			for i := range keys {
				var k string
				switch {
				case scope == PerIP:
					k = ipKey(netip.AddrFrom16([16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, byte(i >> 8), byte(i)}))
				case class == ClassRegister:
					h, _ := account.EmailKey(fmt.Sprintf("%0242d@example.org", i))
					k = string(h[:])
				default:
					k = uuid.New().String()
				}
				b.take(k, now)
			}
			if n := b.cache.Len(); n != keys {
				t.Fatalf("%s/%s holds %d keys, want %d", class, scope, n, keys)
			}
		}
	}
	grew := heap() - before
	t.Logf("%d rules with %d keys each: %.1f MiB", len(DefaultRules), keys, float64(grew)/(1<<20))
	if grew > uint64(len(DefaultRules))*17<<20 {
		t.Errorf("full limits take %d MiB, more than 17 MiB a rule", grew>>20)
	}
	runtime.KeepAlive(l)
}

// The table is changed in one place, line by line, from the serve flags.
func TestParseRules(t *testing.T) {
	rules, err := ParseRules(" chat/account=40/1s, inbox/host=0/1s,report/ip=5/1m", DefaultRules)
	if err != nil {
		t.Fatal(err)
	}
	find := func(c Class, s Scope) (Rule, bool) {
		for _, r := range rules {
			if r.Class == c && r.Scope == s {
				return r, true
			}
		}
		return Rule{}, false
	}
	if r, _ := find(ClassChat, PerAccount); r.Burst != 40 || r.Every != time.Second {
		t.Errorf("chat/account: %+v", r)
	}
	if _, ok := find(ClassInbox, PerHost); ok {
		t.Error("inbox/host=0 left the line on")
	}
	if r, _ := find(ClassReport, PerIP); r.Burst != 5 || r.Every != time.Minute {
		t.Errorf("report/ip: %+v", r)
	}
	if len(rules) != len(DefaultRules)-1 {
		t.Errorf("%d rules, want %d", len(rules), len(DefaultRules)-1)
	}
	if r, _ := find(ClassLogin, PerIP); r != DefaultRules[0] {
		t.Errorf("an untouched line changed: %+v", r)
	}
	for _, bad := range []string{"chat=1/1s", "chat/account=1", "chats/account=1/1s", "chat/street=1/1s", "chat/account=-1/1s", "chat/account=1/0s", "chat/account=x/1s"} {
		if _, err := ParseRules(bad, DefaultRules); err == nil {
			t.Errorf("%q was taken", bad)
		}
	}
	// Every class and scope in the default table is known to the parser.
	for _, r := range DefaultRules {
		if _, err := ParseRules(fmt.Sprintf("%s/%s=1/1s", r.Class, r.Scope), nil); err != nil {
			t.Errorf("default line %s/%s: %v", r.Class, r.Scope, err)
		}
	}
}

// A remote host over its limit is answered with a Retry-After.
func TestInboxLimitAnswersRetryAfter(t *testing.T) {
	l := NewLimiter(RateLimits{Rules: []Rule{{ClassInbox, PerHost, 1, time.Minute}}})
	if err := l.InboxLimit("mastodon.example"); err != nil {
		t.Fatal(err)
	}
	err := l.InboxLimit("mastodon.example")
	f, ok := fault.As(err)
	if !ok || f.Code != "rate_limited" || f.Kind != fault.RateLimited || f.RetryAfter < 50*time.Second {
		t.Errorf("second delivery: %v", err)
	}
	if err := l.InboxLimit("gts.example"); err != nil {
		t.Errorf("another host: %v", err)
	}
}
