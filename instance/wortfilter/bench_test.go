package wortfilter_test

import (
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/wortfilter"
	"github.com/weltgewebe/weltgewebe/internal/testrig/wortfiltertest"
)

// Check's cost per message with a list of 5,000 entries (docs/BENCHMARKS.md; the budget is
// 20 µs): a chat message, a Knoten (title and description), an Antrag as residents write them
// and one of the largest Anträge allowed.
func BenchmarkCheck(b *testing.B) {
	m := wortfilter.MustCompile(wortfiltertest.List(5000))
	for _, c := range wortfiltertest.Messages() {
		b.Run(c.Name, func(b *testing.B) {
			n := 0
			for _, t := range c.Texts {
				n += len(t)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			cpu := threadCPU(b)
			for b.Loop() {
				m.Check(c.Texts...)
			}
			cpu.report()
		})
	}
}

// The same Antrag against lists of different lengths: the check's cost does not grow with the
// list (docs/BENCHMARKS.md).
func BenchmarkCheckListLength(b *testing.B) {
	texts := wortfiltertest.Messages()[2].Texts
	for _, n := range []int{10, 1000, 5000, wortfilter.MaxEntries} {
		m := wortfilter.MustCompile(wortfiltertest.List(n))
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			cpu := threadCPU(b)
			for b.Loop() {
				m.Check(texts...)
			}
			cpu.report()
		})
	}
}

// Compiling a list, as every change does on every replica.
func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{5000, wortfilter.MaxEntries} {
		l := wortfiltertest.List(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				wortfilter.MustCompile(l)
			}
		})
	}
}

// threadCPU measures the CPU time the benchmark's thread spends, beside the wall time the
// benchmark reports: on a machine others share, a thread waiting for a core adds to the wall
// time but not to its CPU time (cpu-ns/op). Linux only; elsewhere it reports nothing.
type cpuClock struct {
	b     *testing.B
	start time.Duration
}

const rusageThread = 1 // RUSAGE_THREAD (Linux)

func threadTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func threadCPU(b *testing.B) cpuClock {
	runtime.LockOSThread()
	return cpuClock{b: b, start: threadTime()}
}

func (c cpuClock) report() {
	end := threadTime()
	runtime.UnlockOSThread()
	if runtime.GOOS == "linux" && c.start >= 0 && end >= 0 && c.b.N > 0 {
		c.b.ReportMetric(float64(end-c.start)/float64(c.b.N), "cpu-ns/op")
	}
}
