package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/c0950fac/mfad/daemon"
	"github.com/c0950fac/mfad/internal/stsemu"
)

// binWorld is the built mfad with a home directory, a configuration of
// five profiles (three holding keys, two roles assumed from them), an STS
// emulator on the real clock, and at most one running daemon.
type binWorld struct {
	bin     string
	dir     string
	runDir  string
	keyring string
	env     []string
	// auditLog is where the daemon writes its audit log.
	auditLog string
	emu      *stsemu.Server
	users    map[string]stsemu.User // by key profile
	// profiles are every profile; keyProfiles those holding keys.
	profiles    []string
	keyProfiles []string
	log         *slog.Logger

	daemon  *exec.Cmd
	exited  chan struct{}
	serving chan time.Time
}

// binarySections measures the built daemon and `mfad exec`.
func binarySections(ctx context.Context, o options, dir string, w *bufio.Writer, log *slog.Logger) error {
	b, err := newBinWorld(ctx, o, dir, log)
	if err != nil {
		return err
	}
	defer b.close()
	fmt.Fprintf(w, "### The built daemon (keystore: %s; runtime directory on %s)\n\n", b.keyring, fsType(b.runDir))
	fmt.Fprintln(w, "| measure | result | target |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	w.Flush()
	if _, err := b.startDaemon(ctx); err != nil {
		return err
	}
	if err := b.unlockAll(ctx); err != nil {
		return err
	}
	if o.has("idle") {
		if err := b.measureIdle(ctx, o, w); err != nil {
			return err
		}
		w.Flush()
	}
	if o.has("startup") {
		if err := b.measureStartup(ctx, o, w); err != nil {
			return err
		}
		w.Flush()
	}
	if o.has("exec") {
		if err := b.measureExec(ctx, o, w); err != nil {
			return err
		}
		w.Flush()
	}
	fmt.Fprintln(w)
	if o.hold {
		w.Flush()
		fmt.Fprintf(os.Stderr, "\nThe daemon runs; in another shell:\n\n")
		for _, kv := range b.env {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Fprintf(os.Stderr, "export %s=%s\n", k, shQuote(v))
		}
		fmt.Fprintf(os.Stderr, "alias mfad=%s\n\nInterrupt (Ctrl-C) to stop.\n", shQuote(b.bin))
		<-ctx.Done()
	}
	return nil
}

// shQuote quotes s for POSIX shells.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newBinWorld(ctx context.Context, o options, dir string, log *slog.Logger) (b *binWorld, err error) {
	b = &binWorld{dir: dir, bin: o.bin, keyring: o.keyring, users: map[string]stsemu.User{}, log: log}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.keyring == "" {
		b.keyring = "file"
		if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
			b.keyring = "os"
		}
	}
	if b.bin == "" {
		b.bin = filepath.Join(dir, "mfad")
		log.Info("building mfad", "to", b.bin)
		// As releases are built (.goreleaser.yaml): static, stripped.
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", b.bin, "github.com/c0950fac/mfad/cmd/mfad")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build ./cmd/mfad (run mfad-bench from the repository, or give -bin): %w\n%s", err, out)
		}
	}
	// The runtime directory is on tmpfs, as $XDG_RUNTIME_DIR (/run/user/UID)
	// is where mfad runs as a service.
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			base = "/dev/shm"
		}
	}
	if b.runDir, err = os.MkdirTemp(base, "mfad-bench-run-"); err != nil {
		return b, fmt.Errorf("create the runtime directory: %w", err)
	}
	if b.emu, err = stsemu.Start(stsemu.Options{}); err != nil {
		return b, fmt.Errorf("start the STS emulator: %w", err)
	}
	home := filepath.Join(dir, "home")
	// The audit log at its default place.
	b.auditLog = filepath.Join(home, ".local", "state", "mfad", "audit.log")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return b, err
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "sts_endpoint: %s\nkeyring:\n  backend: %s\n  file: %s\nprofiles:\n", b.emu.URL, b.keyring, filepath.Join(dir, "keystore.enc"))
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("k%d", i)
		u, err := b.emu.AddUser(fmt.Sprintf("user%d", i))
		if err != nil {
			return b, err
		}
		b.users[name] = u
		b.keyProfiles = append(b.keyProfiles, name)
		b.profiles = append(b.profiles, name)
		fmt.Fprintf(&cfg, "  %s:\n    mfa_serial: %s\n    region: eu-west-1\n", name, u.MFASerial)
	}
	for i := 1; i <= 2; i++ {
		name := fmt.Sprintf("r%d", i)
		arn := b.emu.AddRole(fmt.Sprintf("role%d", i), stsemu.RoleOptions{RequireMFA: true})
		b.profiles = append(b.profiles, name)
		fmt.Fprintf(&cfg, "  %s:\n    role_arn: %s\n    source_profile: k%d\n    region: eu-west-1\n", name, arn, i)
	}
	cfgPath := filepath.Join(home, "mfad.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return b, err
	}
	for _, f := range []string{"aws-config", "aws-credentials"} {
		if err := os.WriteFile(filepath.Join(home, f), nil, 0o600); err != nil {
			return b, err
		}
	}
	b.env = []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"MFAD_CONFIG=" + cfgPath,
		"MFAD_RUNTIME_DIR=" + b.runDir,
		"MFAD_KEYRING_SERVICE=mfad-bench-" + filepath.Base(dir),
		"MFAD_FILE_PASSPHRASE=mfad-bench passphrase",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for _, k := range []string{"DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			b.env = append(b.env, k+"="+v)
		}
	}
	for _, p := range b.keyProfiles {
		u := b.users[p]
		if _, err := b.mfad(ctx, nil, []string{"AWS_ACCESS_KEY_ID=" + u.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + u.SecretAccessKey}, "add", p, "--env"); err != nil {
			return b, err
		}
	}
	return b, nil
}

// mfad runs the CLI with args and returns its standard output.
func (b *binWorld) mfad(ctx context.Context, stdin []byte, extraEnv []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Env = append(slices.Clip(b.env), extraEnv...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("mfad %s: %w: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (b *binWorld) close() {
	b.stopDaemon()
	if b.bin != "" && len(b.keyProfiles) > 0 {
		// Leave nothing in the keyring.
		for _, p := range b.profiles {
			b.mfad(context.Background(), nil, nil, "remove", p, "--force")
		}
	}
	if b.emu != nil {
		b.emu.Close()
	}
	if b.runDir != "" {
		os.RemoveAll(b.runDir)
	}
}

// startDaemon starts `mfad daemon` and returns when its endpoint answers a
// credentials request for the first key profile, with the time from exec
// to then.
func (b *binWorld) startDaemon(ctx context.Context) (time.Duration, error) {
	if b.daemon != nil {
		return 0, errors.New("a daemon is already running")
	}
	os.Remove(filepath.Join(b.runDir, daemon.EndpointFile))
	cmd := exec.Command(b.bin, "daemon")
	cmd.Env = b.env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	b.serving = make(chan time.Time, 1)
	b.exited = make(chan struct{})
	var logMu sync.Mutex
	var logTail []string
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start mfad daemon: %w", err)
	}
	b.daemon = cmd
	go func() {
		defer close(b.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "mfad daemon serving") {
				select {
				case b.serving <- time.Now():
				default:
				}
			}
			logMu.Lock()
			logTail = append(logTail, line)
			if len(logTail) > 20 {
				logTail = logTail[1:]
			}
			logMu.Unlock()
		}
		cmd.Wait()
	}()
	fail := func(err error) (time.Duration, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return 0, fmt.Errorf("%w; the daemon's log ends with:\n%s", err, strings.Join(logTail, "\n"))
	}
	// Poll for the endpoint file (written once the listener is open), then
	// ask for credentials: the request waits in the listener's queue until
	// the daemon serves.
	deadline := t0.Add(30 * time.Second)
	var base, token []byte
	for {
		if base, err = os.ReadFile(filepath.Join(b.runDir, daemon.EndpointFile)); err == nil && len(base) > 0 {
			if token, err = os.ReadFile(filepath.Join(b.runDir, daemon.TokenFile)); err == nil {
				break
			}
		}
		select {
		case <-b.exited:
			return fail(errors.New("mfad daemon exited"))
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fail(errors.New("mfad daemon did not publish its endpoint in 30s"))
		}
		time.Sleep(200 * time.Microsecond)
	}
	if _, err := fetchOnce(ctx, string(base)+daemon.CredentialsPath+b.keyProfiles[0], string(token)); err != nil {
		var zero time.Duration
		if strings.Contains(err.Error(), "ProfileLocked") {
			// Before the first unlock: serving is what start-up means.
			return time.Since(t0), nil
		}
		_, ferr := fail(err)
		return zero, ferr
	}
	return time.Since(t0), nil
}

// endpoint returns the running daemon's base URL and token.
func (b *binWorld) endpoint() (string, string, error) {
	base, err := os.ReadFile(filepath.Join(b.runDir, daemon.EndpointFile))
	if err != nil {
		return "", "", fmt.Errorf("read the endpoint file: %w", err)
	}
	tok, err := os.ReadFile(filepath.Join(b.runDir, daemon.TokenFile))
	if err != nil {
		return "", "", fmt.Errorf("read the token file: %w", err)
	}
	return string(base), string(tok), nil
}

func (b *binWorld) stopDaemon() {
	if b.daemon == nil {
		return
	}
	b.daemon.Process.Signal(os.Interrupt)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.daemon.Process.Kill()
		<-b.exited
	}
	b.daemon = nil
}

// unlockAll unlocks every key profile with a code, as `mfad unlock`, and
// fetches every profile once, as SDKs would.
func (b *binWorld) unlockAll(ctx context.Context) error {
	for _, p := range b.keyProfiles {
		code := b.emu.Code(b.users[p], time.Now())
		if _, err := b.mfad(ctx, []byte(code+"\n"), nil, "unlock", p, "--code-stdin"); err != nil {
			return err
		}
	}
	return b.fetchAll(ctx)
}

func (b *binWorld) fetchAll(ctx context.Context) error {
	base, tok, err := b.endpoint()
	if err != nil {
		return err
	}
	for _, p := range b.profiles {
		if _, err := fetchOnce(ctx, base+daemon.CredentialsPath+p, tok); err != nil {
			return err
		}
	}
	return nil
}

func (b *binWorld) measureIdle(ctx context.Context, o options, w *bufio.Writer) error {
	pid := b.daemon.Process.Pid
	b.log.Info("idle: settling", "wait", o.settle)
	if err := sleepCtx(ctx, o.settle); err != nil {
		return err
	}
	s0, err := sampleProc(pid)
	if err != nil {
		return err
	}
	b.log.Info("idle: measuring", "window", o.idle)
	if err := sleepCtx(ctx, o.idle); err != nil {
		return err
	}
	s1, err := sampleProc(pid)
	if err != nil {
		return err
	}
	window := s1.at.Sub(s0.at)
	scale := float64(time.Minute) / float64(window)
	ticks := time.Duration(s1.ticks-s0.ticks) * clockTick
	// schedstat counts nanoseconds; stat counts 10 ms ticks, too coarse
	// for an idle process: use it only when schedstat is missing.
	onCPU, source := s1.onCPU-s0.onCPU, "schedstat"
	if s0.onCPU == 0 {
		onCPU, source = ticks, "stat ticks"
	}
	fmt.Fprintf(w, "| idle RSS, %d profiles unlocked and fetched once | %.1f MiB VmRSS after %.0f s idle (%.1f MiB private, %.1f MiB of mapped files: the binary); %.1f MiB %.0f s after the last request (%.1f MiB private); peak VmHWM %.1f MiB; %d threads | < 20 MiB: %s |\n",
		len(b.profiles), mib(s1.rssKiB), s1.at.Sub(s0.at).Seconds()+o.settle.Seconds(), mib(s1.anonKiB), mib(s1.fileKiB),
		mib(s0.rssKiB), o.settle.Seconds(), mib(s0.anonKiB), mib(s1.hwmKiB), s1.threads, verdict(s1.rssKiB < 20*1024))
	perMinute := time.Duration(float64(onCPU) * scale)
	fmt.Fprintf(w, "| idle CPU time over a %.0f s window | %s on CPU (%s; %s in stat ticks), so %s per 60 s; %d context switches (%.1f/s) | < 50 ms per 60 s: %s |\n",
		window.Seconds(), fmtDur(onCPU), source, fmtDur(ticks), fmtDur(perMinute),
		s1.switches-s0.switches, float64(s1.switches-s0.switches)/window.Seconds(), verdict(perMinute < 50*time.Millisecond))
	return nil
}

func (b *binWorld) measureStartup(ctx context.Context, o options, w *bufio.Writer) error {
	calls := len(b.emu.Calls())
	var toServe, toLog []time.Duration
	for i := range o.startupRuns {
		b.stopDaemon()
		t0 := time.Now()
		d, err := b.startDaemon(ctx)
		if err != nil {
			return err
		}
		toServe = append(toServe, d)
		select {
		case at := <-b.serving:
			toLog = append(toLog, at.Sub(t0))
		case <-time.After(10 * time.Second):
			return errors.New("no \"mfad daemon serving\" log line in 10s")
		}
		b.log.Info("startup", "run", i+1, "to_credentials", d)
	}
	extra := len(b.emu.Calls()) - calls
	slices.Sort(toServe)
	slices.Sort(toLog)
	fmt.Fprintf(w, "| start-up with cached sessions, exec to the first credentials served (%d runs) | median %s (min %s, max %s); to the \"serving\" log line: median %s; STS calls: %d | < 100 ms: %s |\n",
		len(toServe), fmtDur(median(toServe)), fmtDur(toServe[0]), fmtDur(toServe[len(toServe)-1]), fmtDur(median(toLog)), extra,
		verdict(median(toServe) < 100*time.Millisecond && extra == 0))
	return b.fetchAll(ctx)
}

// measureExec times `mfad exec -- date +%s%N` from exec to the child's
// clock reading, and the same child run directly, alternately; the
// difference of the medians is what mfad exec adds before its child runs.
func (b *binWorld) measureExec(ctx context.Context, o options, w *bufio.Writer) error {
	date, err := exec.LookPath("date")
	if err != nil {
		return fmt.Errorf("mfad exec's child: %w", err)
	}
	childAt := func(args ...string) (time.Duration, time.Duration, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = b.env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, 0, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, errb.String())
		}
		total := time.Since(t0)
		ns, err := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s printed %q", strings.Join(args, " "), out.String())
		}
		return time.Unix(0, ns).Sub(t0), total, nil
	}
	var viaMfad, direct, mfadTotal, directTotal, version []time.Duration
	for i := range o.execRuns {
		for j := range 3 {
			switch (i + j) % 3 {
			case 0:
				d, t, err := childAt(b.bin, "exec", "--profile", b.keyProfiles[0], "--", date, "+%s%N")
				if err != nil {
					return err
				}
				viaMfad, mfadTotal = append(viaMfad, d), append(mfadTotal, t)
			case 1:
				d, t, err := childAt(date, "+%s%N")
				if err != nil {
					return err
				}
				direct, directTotal = append(direct, d), append(directTotal, t)
			case 2:
				// The CLI's own start-up: a command that does nothing else.
				t0 := time.Now()
				if _, err := b.mfad(ctx, nil, nil, "version"); err != nil {
					return err
				}
				version = append(version, time.Since(t0))
			}
		}
	}
	for _, s := range [][]time.Duration{viaMfad, direct, mfadTotal, directTotal, version} {
		slices.Sort(s)
	}
	add := median(viaMfad) - median(direct)
	fmt.Fprintf(w, "| `mfad exec`, start to the child's exec (%d runs each, alternated) | median %s added: exec to the child's first clock reading %s via mfad exec, %s direct (whole runs %s and %s); for reference, a whole `mfad version` run takes %s | < 20 ms: %s |\n",
		o.execRuns, fmtDur(add), fmtDur(median(viaMfad)), fmtDur(median(direct)), fmtDur(median(mfadTotal)), fmtDur(median(directTotal)), fmtDur(median(version)), verdict(add < 20*time.Millisecond))
	return nil
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func median(s []time.Duration) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fsType names the file system dir is on, from /proc/mounts.
func fsType(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "?"
	}
	best, typ := "", "?"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (dir == f[1] || strings.HasPrefix(dir, strings.TrimSuffix(f[1], "/")+"/")) && len(f[1]) > len(best) {
			best, typ = f[1], f[2]
		}
	}
	return typ
}
