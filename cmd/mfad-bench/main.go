// Command mfad-bench measures mfad's performance targets on this machine
// and prints the results as markdown tables:
//
//   - `mfad daemon` as users run it (a release build, the file keystore, the
//     audit log on, five profiles unlocked) against a bare net/http server,
//     each in a process of its own: CPU time per request of each process,
//     throughput and p99 at 1, 16, 64 and 256 connections in alternated
//     rounds; the audit log's growth under a sustained load from one
//     client; the daemon's RSS after a burst of 256 connections;
//   - endpoint throughput and latency over loopback, keep-alive connections
//     each sending GETs one after another, against a bare net/http handler
//     that checks a token and writes the same bytes, in alternated rounds;
//   - the built daemon's idle memory and CPU time with five unlocked
//     profiles, its start-up time with cached sessions, and the time
//     `mfad exec` takes to start its child.
//
// STS is the embedded emulator. Every server binds 127.0.0.1, and every
// load loop is bounded in count and time.
//
//	go run ./cmd/mfad-bench                      # everything, defaults
//	go run ./cmd/mfad-bench -only daemon         # mfad daemon against the bare server
//	go run ./cmd/mfad-bench -only throughput -duration 3s -rounds 8
//	scripts/with-keyring go run ./cmd/mfad-bench -only idle,startup,exec
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	only        []string
	servers     []string
	conns       []int
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	loadProcess bool
	pacedConns  int
	pacedRate   float64
	bin         string
	keyring     string
	settle      time.Duration
	idle        time.Duration
	startupRuns int
	execRuns    int
	out         string
	cpuProfile  string
	hold        bool
	control     bool
	auditRate   float64
	auditLoad   time.Duration
	afterBurst  time.Duration
}

// sections are the parts -only chooses from.
var sections = []string{"daemon", "throughput", "latency", "idle", "startup", "exec"}

// loadWorkerArg makes this program a load worker (see loadWorker).
const loadWorkerArg = "-load-worker"

func main() {
	if len(os.Args) == 2 && os.Args[1] == bareServerArg {
		if err := bareServer(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "mfad-bench baseline server:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) == 2 && os.Args[1] == loadWorkerArg {
		if err := loadWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "mfad-bench load worker:", err)
			os.Exit(1)
		}
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "mfad-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "mfad-bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("mfad-bench", flag.ContinueOnError)
	only := fs.String("only", strings.Join(sections, ","), "sections to run: "+strings.Join(sections, ", "))
	servers := fs.String("servers", serverMfad+","+serverMfadNoAudit+","+serverBare, "servers measured in turn: "+strings.Join([]string{serverMfad, serverMfadNoAudit, serverBare, serverBareDefault}, ", ")+"; ratios are against the first bare one")
	conns := fs.String("conns", "1,16,64,256", "connection counts for the throughput rounds")
	fs.DurationVar(&o.duration, "duration", time.Second, "length of one round against one server")
	fs.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured load on each server before a connection count's rounds")
	load := fs.String("load", "process", `where the load generator runs: "process" (its own process, as SDK clients are) or "inproc" (goroutines of this process, beside the servers)`)
	fs.IntVar(&o.rounds, "rounds", 10, "rounds per server and connection count, alternated between the servers")
	fs.IntVar(&o.pacedConns, "paced-conns", 64, "connections of the latency section")
	fs.Float64Var(&o.pacedRate, "paced-rate", 100, "requests per second per connection in the latency section")
	fs.StringVar(&o.bin, "bin", "", "mfad binary for the idle, startup and exec sections (default: build ./cmd/mfad into a temporary directory)")
	fs.StringVar(&o.keyring, "keyring", "", `keystore backend of the built daemon: "os" (the Secret Service, as under scripts/with-keyring) or "file" (default: os when a session bus is set, else file)`)
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait after the last fetch before the idle window")
	fs.DurationVar(&o.idle, "idle", 130*time.Second, "idle window: CPU time over it is scaled to 60 s, and RSS is read at its end (the default spans the Go runtime's 2-minute periodic GC, after which it returns freed memory)")
	fs.IntVar(&o.startupRuns, "startup-runs", 10, "daemon restarts measured")
	fs.IntVar(&o.execRuns, "exec-runs", 30, "`mfad exec` runs measured (and as many of the bare child)")
	fs.Float64Var(&o.auditRate, "audit-rate", 20000, "daemon section: requests per second of the one client whose audit log growth is measured")
	fs.DurationVar(&o.auditLoad, "audit-load", 2*time.Minute, "daemon section: how long that client asks")
	fs.DurationVar(&o.afterBurst, "after-burst", time.Minute, "daemon section: wait after a burst of 256 connections before reading the daemon's RSS")
	fs.StringVar(&o.out, "o", "", "also write the report to this file")
	fs.BoolVar(&o.control, "control", false, "daemon section: also measure a second bare server against the first, in the same alternated rounds: the noise floor of each ratio on this machine")
	fs.BoolVar(&o.hold, "hold", false, "after the daemon sections, print the built daemon's environment and keep it running until interrupted, to try commands by hand")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the in-process servers) over the throughput and latency sections to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range splitList(*only) {
		if !slices.Contains(sections, s) {
			return o, fmt.Errorf("-only: unknown section %q: use %s", s, strings.Join(sections, ", "))
		}
		o.only = append(o.only, s)
	}
	switch *load {
	case "process":
		o.loadProcess = true
	case "inproc":
	default:
		return o, fmt.Errorf(`-load must be "process" or "inproc", not %q`, *load)
	}
	o.servers = splitList(*servers)
	if len(o.servers) == 0 {
		return o, errors.New("-servers is empty")
	}
	for _, s := range splitList(*conns) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1024 {
			return o, fmt.Errorf("-conns: %q is not a count from 1 to 1024", s)
		}
		o.conns = append(o.conns, n)
	}
	switch {
	case o.duration <= 0 || o.duration > 5*time.Minute:
		return o, errors.New("-duration must be over 0 and at most 5m")
	case o.rounds < 1 || o.rounds > 100:
		return o, errors.New("-rounds must be from 1 to 100")
	case o.pacedConns < 1 || o.pacedConns > 1024:
		return o, errors.New("-paced-conns must be from 1 to 1024")
	case o.pacedRate <= 0 || o.pacedRate > 100000:
		return o, errors.New("-paced-rate must be over 0 and at most 100000")
	case o.idle <= 0 || o.idle > 10*time.Minute:
		return o, errors.New("-idle must be over 0 and at most 10m")
	case o.startupRuns < 1 || o.startupRuns > 1000:
		return o, errors.New("-startup-runs must be from 1 to 1000")
	case o.execRuns < 1 || o.execRuns > 1000:
		return o, errors.New("-exec-runs must be from 1 to 1000")
	case o.keyring != "" && o.keyring != "os" && o.keyring != "file":
		return o, errors.New(`-keyring must be "os" or "file"`)
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (o options) has(section string) bool { return slices.Contains(o.only, section) }

// run measures the chosen sections and writes the report to out (and to
// o.out).
func run(ctx context.Context, o options, out io.Writer, log *slog.Logger) error {
	var files []io.Writer
	files = append(files, out)
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return fmt.Errorf("create %s: %w", o.out, err)
		}
		defer f.Close()
		files = append(files, f)
	}
	w := bufio.NewWriter(io.MultiWriter(files...))
	defer w.Flush()
	fmt.Fprintf(w, "mfad-bench, %s: %s, %s/%s, %d CPUs (%s), GOMAXPROCS %d; load average %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), runtime.GOMAXPROCS(0), loadAverage())
	defer func() { fmt.Fprintf(w, "Load average at the end: %s.\n", loadAverage()) }()
	w.Flush()

	dir, err := os.MkdirTemp("", "mfad-bench-")
	if err != nil {
		return fmt.Errorf("create a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	if o.has("daemon") {
		if err := daemonSection(ctx, o, dir, w, log); err != nil {
			return err
		}
	}
	if o.has("throughput") || o.has("latency") {
		if o.cpuProfile != "" {
			f, err := os.Create(o.cpuProfile)
			if err != nil {
				return fmt.Errorf("create %s: %w", o.cpuProfile, err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return fmt.Errorf("start the CPU profile: %w", err)
			}
		}
		err := throughputSections(ctx, o, dir, w, log)
		if o.cpuProfile != "" {
			pprof.StopCPUProfile()
		}
		if err != nil {
			return err
		}
	}
	if o.has("idle") || o.has("startup") || o.has("exec") {
		if err := binarySections(ctx, o, dir, w, log); err != nil {
			return err
		}
	}
	return nil
}

// loadAverage is the 1, 5 and 15 minute load averages: other work on the
// machine, which the alternated rounds share with mfad and its baseline.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel is the processor's name from /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
