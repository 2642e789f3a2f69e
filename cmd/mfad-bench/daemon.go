package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/benchbase"
)

// Servers of the daemon section.
const (
	// serverDaemon is `mfad daemon`, built, as users run it.
	serverDaemon = "mfad-daemon"
	// serverBareProcess is the baseline handler in a process of its own.
	serverBareProcess = "bare-process"
	// serverBareControl is a second bare server, measured with -control.
	serverBareControl = "bare-control"
)

// bareServerArg makes this program a baseline server (see bareServer).
const bareServerArg = "-bare-server"

// bareJob is what the parent sends a baseline server on its standard input.
type bareJob struct {
	Token string `json:"token"`
	Body  []byte `json:"body"`
}

// bareServer serves the baseline handler on the endpoint's server settings,
// prints its address, and serves until its standard input closes.
func bareServer(r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(r)
	var job bareJob
	if err := dec.Decode(&job); err != nil {
		return fmt.Errorf("read the job: %w", err)
	}
	ln, err := daemon.ListenEndpoint("127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := daemon.NewHTTPServer(benchbase.NewBare(job.Token, job.Body))
	go srv.Serve(ln)
	fmt.Fprintln(w, ln.Addr().String())
	io.Copy(io.Discard, io.MultiReader(dec.Buffered(), r))
	return srv.Close()
}

// startBareProcess starts a baseline server process serving body to token.
func startBareProcess(ctx context.Context, token string, body []byte) (addr string, cmd *exec.Cmd, err error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("find this program to start the baseline server: %w", err)
	}
	cmd = exec.CommandContext(ctx, self, bareServerArg)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start the baseline server: %w", err)
	}
	if err := json.NewEncoder(stdin).Encode(bareJob{Token: token, Body: body}); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return "", nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return "", nil, fmt.Errorf("the baseline server did not print its address: %w", err)
	}
	// Closing stdin (cmd.Wait after stdin.Close) stops it.
	cmd.Cancel = func() error { return stdin.Close() }
	cmd.WaitDelay = 5 * time.Second
	return strings.TrimSpace(line), cmd, nil
}

// daemonSection measures `mfad daemon` as users run it — the built binary,
// the file keystore, the audit log at its default place, five profiles
// unlocked — against the baseline server in a process of its own: CPU time
// per request of each process, throughput and p99 in alternated rounds;
// then the audit log's growth under a sustained load from one client, and
// the daemon's resident memory after a burst of connections.
func daemonSection(ctx context.Context, o options, dir string, w *bufio.Writer, log *slog.Logger) error {
	if o.keyring == "" {
		o.keyring = "file"
	}
	b, err := newBinWorld(ctx, o, dir, log)
	if err != nil {
		return err
	}
	defer b.close()
	if _, err := b.startDaemon(ctx); err != nil {
		return err
	}
	if err := b.unlockAll(ctx); err != nil {
		return err
	}
	pid := b.daemon.Process.Pid
	envOut, err := b.mfad(ctx, nil, nil, "env", "--profile", b.keyProfiles[0], "--format", "json")
	if err != nil {
		return err
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(envOut), &env); err != nil {
		return fmt.Errorf("mfad env --format json: %w", err)
	}
	u, err := url.Parse(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
	if err != nil || env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == "" {
		return fmt.Errorf("mfad env printed no endpoint and token: %v", err)
	}
	tok := env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
	body, err := fetchOnce(ctx, u.String(), tok)
	if err != nil {
		return err
	}
	bareTok, err := newBareToken()
	if err != nil {
		return err
	}
	bctx, stopBare := context.WithCancel(ctx)
	defer stopBare()
	bareAddr, bare, err := startBareProcess(bctx, bareTok, body)
	if err != nil {
		return err
	}
	defer bare.Wait()
	defer stopBare()
	targets := map[string]target{
		serverDaemon:      {name: serverDaemon, addr: u.Host, path: u.Path, token: tok, body: body, pid: pid},
		serverBareProcess: {name: serverBareProcess, addr: bareAddr, path: u.Path, token: bareTok, body: body, pid: bare.Process.Pid},
	}
	servers := []string{serverDaemon, serverBareProcess}
	if o.control {
		addr, ctl, err := startBareProcess(bctx, bareTok, body)
		if err != nil {
			return err
		}
		defer func() {
			stopBare()
			ctl.Wait()
		}()
		targets[serverBareControl] = target{name: serverBareControl, addr: addr, path: u.Path, token: bareTok, body: body, pid: ctl.Process.Pid}
		servers = append(servers, serverBareControl)
	}

	if err := sleepCtx(ctx, o.settle); err != nil {
		return err
	}
	idle0, err := sampleProc(pid)
	if err != nil {
		return err
	}
	audit0 := fileSize(b.auditLog)
	fmt.Fprintf(w, "### `mfad daemon` against the bare server (keystore: %s; audit log on, at its default place)\n\n", b.keyring)
	fmt.Fprintf(w, "The built `mfad daemon` (%d profiles unlocked, fetched with a token from `mfad env`) and the baseline handler on the endpoint's server settings, each in a process of its own; the load generator in a third. %d rounds of %s per server and connection count, alternated (the order reversed every round). CPU/req is each server process's user+system time (/proc/PID/stat) between the load worker's start and stop marks, over all rounds; the ratio column also gives the median and IQR of the round-by-round ratios.\n\n",
		len(b.profiles), o.rounds, o.duration)
	fmt.Fprintln(w, "| conns | **CPU/req mfad / bare** (rounds: median, IQR) | mfad CPU/req | bare CPU/req | req/s mfad / bare: median of rounds (IQR) | mfad req/s | bare req/s | p99 mfad / bare | mfad p50 / p99 | bare p50 / p99 | errors |")
	fmt.Fprintln(w, "| ---: | :---: | ---: | ---: | :---: | ---: | ---: | :---: | ---: | ---: | ---: |")
	w.Flush()
	var loadTime time.Duration
	var control bytes.Buffer
	cw := bufio.NewWriter(&control)
	for _, n := range o.conns {
		res, err := measure(ctx, o, servers, targets, n, 0, log)
		if err != nil {
			return err
		}
		for _, r := range res[serverDaemon].rounds {
			loadTime += r.elapsed
		}
		writeDaemonRow(w, n, res[serverDaemon], res[serverBareProcess])
		w.Flush()
		if o.control {
			writeDaemonRow(cw, n, res[serverBareControl], res[serverBareProcess])
		}
	}
	fmt.Fprintln(w)
	if o.control {
		cw.Flush()
		fmt.Fprintln(w, "Control: a second bare server, in a process of its own, against the first, in the same rounds (same columns, the second bare server in place of mfad). Its ratios would all be 1 on a machine without noise.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| conns | **CPU/req bare 2 / bare** (rounds: median, IQR) | bare 2 CPU/req | bare CPU/req | req/s bare 2 / bare: median of rounds (IQR) | bare 2 req/s | bare req/s | p99 bare 2 / bare | bare 2 p50 / p99 | bare p50 / p99 | errors |")
		fmt.Fprintln(w, "| ---: | :---: | ---: | ---: | :---: | ---: | ---: | :---: | ---: | ---: | ---: |")
		w.Write(control.Bytes())
		fmt.Fprintln(w)
	}
	if err := sleepCtx(ctx, 6*time.Second); err != nil { // the last counts are written
		return err
	}
	audit1 := fileSize(b.auditLog)
	fmt.Fprintf(w, "| measure | result | target |\n| --- | --- | --- |\n")
	fmt.Fprintf(w, "| audit log over the rounds above | %d bytes for %s of saturating load from %d load-worker processes: %.0f bytes per minute of load | |\n",
		audit1-audit0, loadTime.Round(time.Second), len(o.conns)*o.rounds*len(servers), float64(audit1-audit0)/loadTime.Minutes())
	w.Flush()

	// One client asking at a sustained rate.
	t := targets[serverDaemon]
	const auditConns = 16
	log.Info("audit log growth", "rate", o.auditRate, "for", o.auditLoad)
	r, err := o.load(ctx, t, auditConns, o.auditLoad, o.auditRate/auditConns)
	if err != nil {
		return err
	}
	if err := sleepCtx(ctx, 6*time.Second); err != nil {
		return err
	}
	audit2 := fileSize(b.auditLog)
	named := strings.Contains(tail(b.auditLog, audit1), fmt.Sprintf(`"pid":%d,`, r.worker))
	perMinute := float64(audit2-audit1) / r.elapsed.Minutes()
	fmt.Fprintf(w, "| audit log growth, one client (%d connections) asking %.0f times a second for %s | %.0f requests/s served; %d bytes written: %.0f bytes per minute; the client (pid %d) named: %v | < 1 KB per minute, naming the client: %s |\n",
		auditConns, o.auditRate, o.auditLoad, r.throughput(), audit2-audit1, perMinute, r.worker, named, verdict(perMinute < 1024 && named && r.throughput() > 0.9*o.auditRate))
	w.Flush()

	// A burst of connections, then idle.
	log.Info("burst", "conns", 256)
	if _, err := o.load(ctx, t, 256, o.duration, 0); err != nil {
		return err
	}
	peak, err := sampleProc(pid)
	if err != nil {
		return err
	}
	log.Info("after the burst: waiting", "for", o.afterBurst)
	if err := sleepCtx(ctx, o.afterBurst); err != nil {
		return err
	}
	after, err := sampleProc(pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "| idle RSS, %d profiles unlocked, before the rounds | %.1f MiB VmRSS (%.1f MiB private, %.1f MiB mapped files); %d threads | |\n",
		len(b.profiles), mib(idle0.rssKiB), mib(idle0.anonKiB), mib(idle0.fileKiB), idle0.threads)
	fmt.Fprintf(w, "| idle RSS %s after a burst of 256 connections | %.1f MiB VmRSS (%.1f MiB private, %.1f MiB mapped files); right after the burst %.1f MiB; peak VmHWM %.1f MiB; %d threads | < 15 MB: %s |\n",
		o.afterBurst, mib(after.rssKiB), mib(after.anonKiB), mib(after.fileKiB), mib(peak.rssKiB), mib(after.hwmKiB), after.threads, verdict(after.rssKiB*1024 < 15_000_000))
	fmt.Fprintln(w)
	return nil
}

func writeDaemonRow(w *bufio.Writer, conns int, d, bare *series) {
	var cpuRatios []float64
	for i := range min(len(d.rounds), len(bare.rounds)) {
		a, b := d.rounds[i], bare.rounds[i]
		if a.requests > 0 && b.requests > 0 && a.serverCPU > 0 && b.serverCPU > 0 {
			cpuRatios = append(cpuRatios, (float64(a.serverCPU)/float64(a.requests))/(float64(b.serverCPU)/float64(b.requests)))
		}
	}
	slices.Sort(cpuRatios)
	cq1, cmed, cq3 := quartiles(cpuRatios)
	dc, bc := d.cpuPerRequest(), bare.cpuPerRequest()
	pooled := 0.0
	if bc > 0 {
		pooled = float64(dc) / float64(bc)
	}
	q1, med, q3 := quartiles(pairedRatios(d, bare))
	p99d, p99b := d.hist.quantile(0.99), bare.hist.quantile(0.99)
	nerr, first := d.errors()
	nb, fb := bare.errors()
	if first == nil {
		first = fb
	}
	fmt.Fprintf(w, "| %d | **%.3f** (%.3f; %.2f–%.2f) | %.1f µs | %.1f µs | **%.3f** (%.2f–%.2f) | %.0f | %.0f | %.2f | %s / %s | %s / %s | %s |\n",
		conns, pooled, cmed, cq1, cq3, float64(dc)/float64(time.Microsecond), float64(bc)/float64(time.Microsecond),
		med, q1, q3, d.throughput(), bare.throughput(), float64(p99d)/float64(max(p99b, 1)),
		fmtDur(d.hist.quantile(0.5)), fmtDur(p99d), fmtDur(bare.hist.quantile(0.5)), fmtDur(p99b), fmtErrors(nerr+nb, first))
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// tail returns the file at path from offset on.
func tail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
