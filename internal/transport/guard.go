package transport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// guard decides which URLs and addresses the client may reach.
type guard struct {
	// hosts holds AllowHosts entries normalised by hostKey: "name", "name:port",
	// "1.2.3.4", "[::1]:8080".
	hosts    map[string]bool
	loopback bool
	http     bool
}

func newGuard(o Options) *guard {
	g := &guard{hosts: make(map[string]bool, len(o.AllowHosts)), loopback: o.AllowLoopback, http: o.AllowHTTP}
	for _, e := range o.AllowHosts {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if h, p, err := net.SplitHostPort(e); err == nil {
			g.hosts[hostKey(h, p)] = true
		} else {
			g.hosts[hostKey(e, "")] = true
		}
	}
	return g
}

// hostKey normalises a host so that "Example.ORG.", "example.org", "[::ffff:7f00:1]" and
// "127.0.0.1" each compare equal to their other spellings.
func hostKey(host, port string) string {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if a, err := netip.ParseAddr(h); err == nil {
		h = a.WithZone("").Unmap().String()
	}
	if port == "" {
		return h
	}
	return net.JoinHostPort(h, port)
}

// allowedHost reports whether host (as written in the URL) is listed, with or without
// this port.
func (g *guard) allowedHost(host, port string) bool {
	if len(g.hosts) == 0 {
		return false
	}
	return g.hosts[hostKey(host, "")] || g.hosts[hostKey(host, port)]
}

// checkURL is the part of the guard that needs no network: the scheme, and hosts that
// are IP literals or look like numbers. It runs before every request and every redirect
// hop, so that nothing is signed or dialled for a URL we would refuse anyway. The dial-time
// check remains the one that counts for names.
func (g *guard) checkURL(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		// An allow-listed host is one the operator set up by hand (a local neighbour, a test
		// peer): it may speak plain http too. Everyone else needs TLS unless AllowHTTP.
		if !g.http && !g.allowedHost(u.Hostname(), u.Port()) {
			return fmt.Errorf("%w: %s", ErrInsecureScheme, u.Redacted())
		}
	default:
		return fmt.Errorf("%w: %q in %s", ErrUnsupportedScheme, u.Scheme, u.Redacted())
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: no host in %s", ErrForbiddenAddress, u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if strings.EqualFold(u.Scheme, "http") {
			port = "80"
		}
	}
	if g.allowedHost(host, port) {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return g.checkAddr(a)
	}
	if endsInNumber(host) {
		// 2130706433, 0x7f.1, 127.1, 017700000001: not canonical IP literals, but
		// inet_aton and browsers read them as 127.0.0.1. Whether a resolver does depends
		// on the platform, so refuse them outright; no real server is named like this.
		return fmt.Errorf("%w: %q is a numeric host but not a canonical IP address", ErrForbiddenAddress, host)
	}
	return nil
}

// endsInNumber is the WHATWG URL rule that makes a host parse as IPv4: its last label
// (ignoring one trailing dot) is decimal digits or 0x-prefixed hex.
func endsInNumber(host string) bool {
	labels := strings.Split(host, ".")
	if len(labels) > 1 && labels[len(labels)-1] == "" {
		labels = labels[:len(labels)-1]
	}
	last := labels[len(labels)-1]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") || strings.HasPrefix(last, "0X") {
		for _, c := range last[2:] {
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
		return true
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// dialContext is the Transport's dialer. A host from AllowHosts is dialled as is: the
// operator vouched for the name, whatever it resolves to. Any other host is dialled with
// control, which sees each address the dialer is about to connect to, after resolution.
func (g *guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !g.allowedHost(host, port) {
		d.Control = g.control
	}
	return d.DialContext(ctx, network, addr)
}

func (g *guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dial address %q", ErrForbiddenAddress, address)
	}
	return g.checkAddr(ap.Addr())
}

// checkAddr is the address policy. IPv4-mapped IPv6 addresses are judged as the IPv4
// address they are, since that is where the kernel sends them.
func (g *guard) checkAddr(a netip.Addr) error {
	a = a.WithZone("").Unmap()
	if a.IsLoopback() {
		if g.loopback {
			return nil
		}
		return fmt.Errorf("%w: %s is loopback", ErrForbiddenAddress, a)
	}
	if why := forbidden(a); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, a, why)
	}
	return nil
}

// reserved lists ranges beyond what netip classifies that still lead into a local network
// or nowhere useful. 0.0.0.0/8 matters most: on Linux, connecting to 0.0.0.0 reaches
// 127.0.0.1.
var reserved = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "in 0.0.0.0/8 (this network)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT (100.64.0.0/10)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast (240.0.0.0/4)"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible IPv6 (::/96)"},
	{netip.MustParsePrefix("100::/64"), "discard-only (100::/64)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (fec0::/10)"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// forbidden says why a (non-loopback, unmapped) address must not be dialled, or "".
func forbidden(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	}
	for _, r := range reserved {
		if r.prefix.Contains(a) {
			return r.why
		}
	}
	// NAT64 and 6to4 carry an IPv4 address inside; a gateway will deliver to it, so it is
	// judged like the IPv4 address itself (loopback included: the gateway's loopback is
	// no more ours to probe than our own).
	var v4 [4]byte
	b := a.As16()
	switch {
	case nat64.Contains(a):
		copy(v4[:], b[12:16])
	case sixToFour.Contains(a):
		copy(v4[:], b[2:6])
	default:
		return ""
	}
	inner := netip.AddrFrom4(v4)
	if inner.IsLoopback() {
		return "an IPv6 form of loopback " + inner.String()
	}
	if why := forbidden(inner); why != "" {
		return "an IPv6 form of " + inner.String() + ", which is " + why
	}
	return ""
}
