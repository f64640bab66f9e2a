package moderation

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/clock"
)

// Blocked knows addresses with and without ports, IPv4-mapped IPv6 as IPv4, ranges as stored
// masked, and a block's end.
func TestBlocked(t *testing.T) {
	dev := clock.NewDev()
	s := &Service{clock: dev}
	for _, c := range []struct {
		cidr string
		days int
	}{{"192.0.2.77/24", 0}, {"2001:db8:1::/48", 0}, {"::ffff:198.51.100.9", 1}} {
		p, err := ParseCIDR(c.cidr)
		if err != nil {
			t.Fatalf("%s: %v", c.cidr, err)
		}
		b := Sperre{ID: uuid.New(), CIDR: p}
		if c.days > 0 {
			until := dev.Now().Add(time.Duration(c.days) * 24 * time.Hour)
			b.Until = &until
		}
		s.addLocal(b)
	}
	for addr, want := range map[string]bool{
		"192.0.2.1": true, "192.0.2.255:80": true, "[::ffff:192.0.2.9]:443": true, "192.0.3.1": false,
		"2001:db8:1:ffff::1": true, "[2001:db8:2::1]:8080": false, "198.51.100.9": true, "198.51.100.10": false,
		"not an address": false, "": false,
	} {
		if got := s.Blocked(addr); got != want {
			t.Errorf("Blocked(%q) = %v, want %v", addr, got, want)
		}
	}
	if _, err := ParseCIDR("192.0.2.0/33"); err == nil {
		t.Error("a prefix longer than the address is taken")
	}
	if p, _ := ParseCIDR("::ffff:10.0.0.0/104"); p.String() != "10.0.0.0/8" {
		t.Errorf("a mapped range: %s", p)
	}
	if _, err := dev.Advance(25 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if s.Blocked("198.51.100.9") {
		t.Error("a block is still held after its end")
	}
}
