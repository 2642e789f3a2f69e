package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is one server the load generator fetches from.
type target struct {
	// name labels the server in the report.
	name string
	// addr is the server's 127.0.0.1:PORT.
	addr string
	// path is the profile's path on it.
	path string
	// token is sent as the Authorization header.
	token string
	// body is what a 200 response must carry.
	body []byte
	// pid is the server's process when it runs in a process of its own
	// (its CPU time is read from /proc); 0 = this process.
	pid int
}

// request is the request an AWS SDK sends to the endpoint.
func (t target) request() []byte {
	return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: aws-sdk-go-v2/1.48.0 os/linux lang/go#1.26\r\nAuthorization: %s\r\nAccept-Encoding: gzip\r\n\r\n",
		t.path, t.addr, t.token)
}

// loadResult is one round against one target.
type loadResult struct {
	requests int64
	errors   int64
	firstErr error
	elapsed  time.Duration
	hist     *histogram
	// serverCPU is the CPU time the server's process used while the load
	// ran in a worker process; 0 when the load ran in this process.
	serverCPU time.Duration
	// worker is the load worker's pid (0 when the load ran in this process).
	worker int
}

// throughput is requests per second.
func (r loadResult) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// runLoad opens conns keep-alive connections to t, each sending requests
// one after another for dur (at rate requests per second per connection
// when rate > 0, else as fast as the server answers), and returns the
// counts and the latency histogram. Every connection answers one request
// before the clock starts.
func runLoad(t target, conns int, dur time.Duration, rate float64) (loadResult, error) {
	return runLoadMarked(t, conns, dur, rate, func() {}, func() {})
}

// runLoadMarked is runLoad calling started just before the clock starts
// and stopped when the last connection has finished.
func runLoadMarked(t target, conns int, dur time.Duration, rate float64, started, stopped func()) (loadResult, error) {
	req := t.request()
	type worker struct {
		c    net.Conn
		br   *bufio.Reader
		n    int64
		errs int64
		err  error
		h    histogram
	}
	ws := make([]*worker, conns)
	defer func() {
		for _, w := range ws {
			if w != nil && w.c != nil {
				w.c.Close()
			}
		}
	}()
	buf := make([]byte, len(t.body)+1)
	for i := range ws {
		c, err := net.DialTimeout("tcp4", t.addr, 5*time.Second)
		if err != nil {
			return loadResult{}, fmt.Errorf("connect to %s (%s): %w", t.name, t.addr, err)
		}
		w := &worker{c: c, br: bufio.NewReaderSize(c, 4096)}
		ws[i] = w
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := roundTrip(w.c, w.br, req, t.body, buf); err != nil {
			return loadResult{}, fmt.Errorf("first request to %s: %w", t.name, err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, len(t.body)+1)
			var interval time.Duration
			next := time.Time{}
			<-start
			if rate > 0 {
				interval = time.Duration(float64(time.Second) / rate)
				// Spread the connections' requests over one interval.
				next = time.Now().Add(rand.N(interval))
			}
			// One deadline for the whole round: a stuck server fails the
			// round instead of hanging it.
			w.c.SetDeadline(time.Now().Add(dur + 10*time.Second))
			for !stop.Load() {
				if rate > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(interval)
				}
				t0 := time.Now()
				if err := roundTrip(w.c, w.br, req, t.body, buf); err != nil {
					w.errs++
					w.err = err
					return
				}
				w.h.record(time.Since(t0))
				w.n++
			}
		}()
	}
	started()
	t0 := time.Now()
	close(start)
	timer := time.AfterFunc(dur, func() { stop.Store(true) })
	defer timer.Stop()
	wg.Wait()
	res := loadResult{elapsed: time.Since(t0), hist: &histogram{}}
	stopped()
	for _, w := range ws {
		res.requests += w.n
		res.errors += w.errs
		if w.err != nil && res.firstErr == nil {
			res.firstErr = w.err
		}
		res.hist.merge(&w.h)
	}
	return res, nil
}

// roundTrip sends req on c and reads one response from br, which must be a
// 200 with exactly want as its body. buf holds at least len(want)+1 bytes.
func roundTrip(c net.Conn, br *bufio.Reader, req, want, buf []byte) error {
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("read the status line: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status %q", bytes.TrimSpace(line))
	}
	length := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("read the headers: %w", err)
		}
		if len(line) <= 2 {
			break
		}
		const cl = "content-length:"
		if len(line) > len(cl) && asciiEqualFold(line[:len(cl)], cl) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(line[len(cl):])))
			if err != nil {
				return fmt.Errorf("bad Content-Length %q", bytes.TrimSpace(line))
			}
		}
	}
	if length != len(want) {
		return fmt.Errorf("Content-Length %d, want %d", length, len(want))
	}
	if _, err := io.ReadFull(br, buf[:length]); err != nil {
		return fmt.Errorf("read the body: %w", err)
	}
	if !bytes.Equal(buf[:length], want) {
		return errors.New("unexpected body")
	}
	return nil
}

func asciiEqualFold(b []byte, lower string) bool {
	for i := range len(lower) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// histogram counts latencies in log-linear buckets: exact below 128 ns,
// then 64 buckets per power of two (under 1.6% error).
type histogram struct {
	counts [histBuckets]uint64
	total  uint64
}

const (
	histSub     = 64
	histBuckets = histSub * 42
)

func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	e := bits.Len64(v) - 7 // v>>e is in [64, 128)
	i := e*histSub + int(v>>e)
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histValue is the middle of bucket i.
func histValue(i int) time.Duration {
	if i < 2*histSub {
		return time.Duration(i)
	}
	e := i/histSub - 1
	m := uint64(i - e*histSub)
	return time.Duration(m<<e + (uint64(1)<<e)/2)
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(uint64(d))]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// quantile returns the q-quantile (0 < q ≤ 1), or 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return histValue(i)
		}
	}
	return histValue(histBuckets - 1)
}

// loadJob is what the parent sends a load worker process on its standard
// input.
type loadJob struct {
	Name  string        `json:"name"`
	Addr  string        `json:"addr"`
	Path  string        `json:"path"`
	Token string        `json:"token"`
	Body  []byte        `json:"body"`
	Conns int           `json:"conns"`
	Dur   time.Duration `json:"dur"`
	Rate  float64       `json:"rate"`
}

// loadReply is what a load worker prints: a loadResult.
type loadReply struct {
	Requests int64          `json:"requests"`
	Errors   int64          `json:"errors"`
	FirstErr string         `json:"first_err,omitempty"`
	Elapsed  time.Duration  `json:"elapsed"`
	Buckets  map[int]uint64 `json:"buckets"`
	Err      string         `json:"err,omitempty"`
}

// loadWorker runs one job from r and writes its reply to w: the load
// generator runs in its own process, so that the servers' and its own
// garbage collection and scheduling do not mix.
func loadWorker(r io.Reader, w io.Writer) error {
	var job loadJob
	if err := json.NewDecoder(r).Decode(&job); err != nil {
		return fmt.Errorf("read the job: %w", err)
	}
	t := target{name: job.Name, addr: job.Addr, path: job.Path, token: job.Token, body: job.Body}
	// Marks on stderr tell the parent when the clock runs, so that it can
	// measure the servers' CPU time over the same span.
	mark := func(m string) func() { return func() { os.Stderr.WriteString(m + "\n") } }
	res, err := runLoadMarked(t, job.Conns, job.Dur, job.Rate, mark(markStart), mark(markStop))
	rep := loadReply{Requests: res.requests, Errors: res.errors, Elapsed: res.elapsed, Buckets: map[int]uint64{}}
	if err != nil {
		rep.Err = err.Error()
	}
	if res.firstErr != nil {
		rep.FirstErr = res.firstErr.Error()
	}
	if res.hist != nil {
		for i, c := range res.hist.counts {
			if c > 0 {
				rep.Buckets[i] = c
			}
		}
	}
	return json.NewEncoder(w).Encode(rep)
}

// runLoadProcess runs runLoad in a new process of this program.
func runLoadProcess(ctx context.Context, t target, conns int, dur time.Duration, rate float64) (loadResult, error) {
	self, err := os.Executable()
	if err != nil {
		return loadResult{}, fmt.Errorf("find this program to start a load worker: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, dur+time.Minute)
	defer cancel()
	job, err := json.Marshal(loadJob{Name: t.name, Addr: t.addr, Path: t.path, Token: t.token, Body: t.body, Conns: conns, Dur: dur, Rate: rate})
	if err != nil {
		return loadResult{}, err
	}
	cmd := exec.CommandContext(ctx, self, loadWorkerArg)
	cmd.Stdin = bytes.NewReader(job)
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return loadResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return loadResult{}, fmt.Errorf("start a load worker: %w", err)
	}
	var cpu0, cpu1 time.Duration
	var errb strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		switch sc.Text() {
		case markStart:
			cpu0 = processCPU(t.pid)
		case markStop:
			cpu1 = processCPU(t.pid)
		default:
			errb.WriteString(sc.Text() + "\n")
		}
	}
	if err := cmd.Wait(); err != nil {
		return loadResult{}, fmt.Errorf("load worker: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	var rep loadReply
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return loadResult{}, fmt.Errorf("load worker's reply: %w", err)
	}
	if rep.Err != "" {
		return loadResult{}, errors.New(rep.Err)
	}
	res := loadResult{requests: rep.Requests, errors: rep.Errors, elapsed: rep.Elapsed, hist: &histogram{}, serverCPU: cpu1 - cpu0, worker: cmd.Process.Pid}
	if rep.FirstErr != "" {
		res.firstErr = errors.New(rep.FirstErr)
	}
	for i, c := range rep.Buckets {
		if i >= 0 && i < histBuckets {
			res.hist.counts[i] += c
			res.hist.total += c
		}
	}
	return res, nil
}

// Marks a load worker writes on its standard error.
const (
	markStart = "mfad-bench: start"
	markStop  = "mfad-bench: stop"
)
