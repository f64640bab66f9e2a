package httpapi

import (
	"net/http/httptest"
	"testing"
	"time"
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
		{"203.0.113.5:4000", "198.51.100.1", "203.0.113.5"},             // not a proxy: its header is ignored
		{"10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},               // the proxy names the client
		{"10.1.2.3:4000", "198.51.100.9, 198.51.100.1", "198.51.100.1"}, // the client's own entry is not believed
		{"10.1.2.3:4000", "198.51.100.1, 192.168.1.7", "198.51.100.1"},  // through two proxies
		{"10.1.2.3:4000", "garbage, 10.9.9.9", "10.9.9.9"},              // unreadable: the nearest readable proxy
		{"[::1]:4000", "2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::/64"}, // IPv6 by its /64
		{"[::ffff:10.1.2.3]:4000", "198.51.100.1", "198.51.100.1"},      // an IPv4 peer on a dual stack
		{"[2001:db8::1]:4000", "", "2001:db8::/64"},
	} {
		r := httptest.NewRequest("POST", "/api/auth/login", nil)
		r.RemoteAddr = tc.peer
		if tc.forwarded != "" {
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
	} {
		if got := classOf(httptest.NewRequest(tc.method, tc.path, nil)); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
	for d, want := range map[time.Duration]int{time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Hour: 3600} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("Retry-After for %s: %d, want %d", d, got, want)
		}
	}
}
