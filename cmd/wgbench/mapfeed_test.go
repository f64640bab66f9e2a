package main

import (
	"slices"
	"testing"
)

// The map measurement's client processes: never more clients in one than it may hold sockets
// for, and with several servers (process i → server i mod servers) each server's share even,
// so that 39,800 clients on two servers are 19,900 each, under the 20,000 files a process may
// open here. With one server the split is what it always was.
func TestMapSplit(t *testing.T) {
	if got := mapSplit(19_900, 1); !slices.Equal(got, []int{10_000, 9_900}) {
		t.Errorf("19,900 on one server: %v", got)
	}
	for _, c := range []struct{ n, servers, maxPerServer int }{
		{2000, 2, 1000}, {20_000, 2, 10_000}, {30_000, 2, 15_000}, {39_800, 2, 19_900},
		{20_000, 3, 6_667}, {59_700, 3, 19_900}, {1, 3, 1},
	} {
		sizes := mapSplit(c.n, c.servers)
		perServer := make([]int, c.servers)
		total := 0
		for i, k := range sizes {
			if k <= 0 || k > mapPerChild {
				t.Errorf("%d clients on %d servers: a process of %d (%v)", c.n, c.servers, k, sizes)
			}
			perServer[i%c.servers] += k
			total += k
		}
		if total != c.n || slices.Max(perServer) != c.maxPerServer {
			t.Errorf("%d clients on %d servers: processes %v, per server %v (want %d clients, at most %d a server)", c.n, c.servers, sizes, perServer, c.n, c.maxPerServer)
		}
	}
}
