package main

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/wortfilter"
	"github.com/weltgewebe/weltgewebe/internal/testrig/wortfiltertest"
)

// benchWortfilter measures the word filter's check per message with a list of 5,000 entries
// (the budget: 20 µs) and the compile a change costs every process. It needs no database: the
// check runs from memory. Beside the wall time per check it gives the CPU time of the thread
// that ran it, which a machine shared with other work does not inflate.
func benchWortfilter() {
	fmt.Print("## Word filter\n\n")
	l := wortfiltertest.List(5000)
	start := time.Now()
	m := wortfilter.MustCompile(l)
	compiled := time.Since(start)
	fmt.Printf("List: %s; compiled in %s.\n\n", wortfiltertest.Describe(l), compiled.Round(time.Millisecond))
	fmt.Println("| message | characters | wall per check | CPU per check | allocations |")
	fmt.Println("|---|--:|--:|--:|--:|")
	for _, msg := range wortfiltertest.Messages() {
		chars := 0
		for _, t := range msg.Texts {
			chars += len([]rune(t))
		}
		var cpu time.Duration
		r := testing.Benchmark(func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := threadCPUTime()
			for b.Loop() {
				m.Check(msg.Texts...)
			}
			cpu = (threadCPUTime() - t0) / time.Duration(b.N)
		})
		fmt.Printf("| %s | %d | %.1f µs | %.1f µs | %d |\n", msg.Name, chars,
			float64(r.NsPerOp())/1000, float64(cpu.Nanoseconds())/1000, r.AllocsPerOp())
	}
	big := wortfiltertest.List(wortfilter.MaxEntries)
	start = time.Now()
	wortfilter.MustCompile(big)
	fmt.Printf("\nCompiling the largest list (%s): %s.\n\n", wortfiltertest.Describe(big), time.Since(start).Round(time.Millisecond))
}

// threadCPUTime is the CPU time of the calling thread (Linux; RUSAGE_THREAD).
func threadCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
