package main

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// The inbox measurement's load generator runs as a separate process (`wgbench _post`), so that
// its HTTP client does not count as the server's cost and does not share its scheduler.

type preparedRequest struct {
	Body   []byte
	Header http.Header
}

type postResult struct {
	Elapsed  time.Duration
	Statuses map[int]int
}

// poster is a running load generator with its requests loaded.
type poster struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startPoster loads the requests into a load generator that will POST them to target; a
// non-empty host is sent as the Host of every request (a baseline server on another address
// then sees what the instance would).
func startPoster(reqs []preparedRequest, target, host string, conns int) *poster {
	f, err := os.CreateTemp("", "wgbench-requests-")
	check(err)
	defer os.Remove(f.Name()) // the poster has read it once it says ready
	check(gob.NewEncoder(f).Encode(reqs))
	check(f.Close())
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "_post", "-file", f.Name(), "-target", target, "-conns", fmt.Sprint(conns), "-host", host)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	check(err)
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	p := &poster{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	if line, err := p.out.ReadString('\n'); err != nil || line != "ready\n" {
		log.Fatalf("load generator: %q %v", line, err)
	}
	return p
}

// fire starts the run and returns its result when every request has been answered.
func (p *poster) fire() postResult {
	_, err := io.WriteString(p.stdin, "go\n")
	check(err)
	var res postResult
	check(json.NewDecoder(p.out).Decode(&res))
	p.stdin.Close()
	check(p.cmd.Wait())
	return res
}

// runPoster is `wgbench _post`.
func runPoster(args []string) {
	fs := flag.NewFlagSet("_post", flag.ExitOnError)
	file := fs.String("file", "", "gob file of prepared requests")
	target := fs.String("target", "", "URL to POST them to")
	conns := fs.Int("conns", 64, "concurrent keep-alive connections")
	host := fs.String("host", "", "Host to send instead of the target's")
	check(fs.Parse(args))
	f, err := os.Open(*file)
	check(err)
	var reqs []preparedRequest
	check(gob.NewDecoder(f).Decode(&reqs))
	f.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		log.Fatal(err)
	}
	var next atomic.Int64
	statuses := newTally()
	start := time.Now()
	sendAll(*conns, func(int) *http.Client { return client }, func(int) (*http.Request, *tally) {
		i := int(next.Add(1) - 1)
		if i >= len(reqs) {
			return nil, nil
		}
		r, err := http.NewRequest(http.MethodPost, *target, bytes.NewReader(reqs[i].Body))
		check(err)
		r.Header = reqs[i].Header
		if *host != "" {
			r.Host = *host
		}
		return r, statuses
	})
	check(json.NewEncoder(os.Stdout).Encode(postResult{Elapsed: time.Since(start), Statuses: statuses.counts}))
}

// tally counts answers by status (0: no answer); safe for concurrent use.
type tally struct {
	mu     sync.Mutex
	counts map[int]int
}

func newTally() *tally { return &tally{counts: map[int]int{}} }

func (t *tally) add(status int) {
	t.mu.Lock()
	t.counts[status]++
	t.mu.Unlock()
}

// sendAll is the load generators' send loop: conns workers, each with its own client, send the
// requests next gives them until it gives nil, read each answer to its end (so that the
// connection is reused) and count its status in the tally next named.
func sendAll(conns int, client func(worker int) *http.Client, next func(worker int) (*http.Request, *tally)) {
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client(w)
			for {
				req, t := next(w)
				if req == nil {
					return
				}
				status := 0
				if res, err := c.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					status = res.StatusCode
				}
				t.add(status)
			}
		}()
	}
	wg.Wait()
}
