package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU accounting: what this process (the instance under test) and the PostgreSQL cluster it
// started spend, so that a measurement can state its cost per request in CPU time, with the
// load generator (a separate process) left out.

// pgDataDir is the benchmark cluster's data directory; empty when -database-url names a server
// whose processes are not ours to count.
var pgDataDir string

type cpuSample struct {
	self, pg time.Duration
	pgKnown  bool
}

func sampleCPU() cpuSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := cpuSample{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	s.pg, s.pgKnown = clusterCPU()
	return s
}

func (a cpuSample) since(b cpuSample) cpuSample {
	return cpuSample{self: a.self - b.self, pg: a.pg - b.pg, pgKnown: a.pgKnown && b.pgKnown}
}

func (a cpuSample) total() time.Duration { return a.self + a.pg }

// clusterCPU sums user and system time of the postmaster and its children, from /proc.
func clusterCPU() (time.Duration, bool) {
	if pgDataDir == "" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(pgDataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	postmaster := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	var sum time.Duration
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if ppid, cpu, ok := procStat(e.Name()); ok && (e.Name() == postmaster || ppid == postmaster) {
			sum += cpu
		}
	}
	// Backends that ended (a pool closing idle connections, a replica's River client) took
	// their time with them: the postmaster has it as its waited-for children's.
	return sum + reapedCPU(postmaster), true
}

// reapedCPU is the user and system time of a process's children that have ended and been
// waited for (cutime and cstime in /proc/PID/stat).
func reapedCPU(pid string) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0
	}
	line := string(b)
	fields := strings.Fields(line[strings.LastIndexByte(line, ')')+1:])
	if len(fields) < 15 {
		return 0
	}
	const tick = time.Second / 100
	cut, _ := strconv.ParseInt(fields[13], 10, 64)
	cst, _ := strconv.ParseInt(fields[14], 10, 64)
	return time.Duration(cut+cst) * tick
}

// processCPU is the user and system time a process has used so far.
func processCPU(pid int) time.Duration {
	_, cpu, _ := procStat(strconv.Itoa(pid))
	return cpu
}

// procStat reads a process's parent and CPU time from /proc.
func procStat(pid string) (ppid string, cpu time.Duration, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return "", 0, false
	}
	line := string(b)
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return "", 0, false
	}
	fields := strings.Fields(line[i+1:]) // state ppid … utime(12) stime(13)
	if len(fields) < 13 {
		return "", 0, false
	}
	const tick = time.Second / 100 // USER_HZ on Linux
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return fields[1], time.Duration(ut+st) * tick, true
}

// cpuPerOp is the CPU time per operation of op run alone on one goroutine.
func cpuPerOp(op func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ru0, ru1 syscall.Rusage
	n := 0
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &ru0)
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		op()
		n++
	}
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &ru1)
	return time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) / time.Duration(n)
}
