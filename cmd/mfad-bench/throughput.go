package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// series is every round of one server at one connection count.
type series struct {
	rounds []loadResult
	hist   histogram
}

func (s *series) add(r loadResult) {
	s.rounds = append(s.rounds, r)
	s.hist.merge(r.hist)
}

// throughput is the requests of all rounds over their time.
func (s *series) throughput() float64 {
	var n int64
	var d time.Duration
	for _, r := range s.rounds {
		n += r.requests
		d += r.elapsed
	}
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func (s *series) errors() (int64, error) {
	var n int64
	var first error
	for _, r := range s.rounds {
		n += r.errors
		if first == nil {
			first = r.firstErr
		}
	}
	return n, first
}

// where says where the servers and the load generator run.
func (o options) where() string {
	if o.loadProcess {
		return "Servers in the mfad-bench process, load generator in a process of its own (CPU/req: the servers' CPU time per request)"
	}
	return "Servers and load generator in the mfad-bench process"
}

// load runs one round in a load worker process, or in this one.
func (o options) load(ctx context.Context, t target, conns int, dur time.Duration, rate float64) (loadResult, error) {
	if o.loadProcess {
		return runLoadProcess(ctx, t, conns, dur, rate)
	}
	return runLoad(t, conns, dur, rate)
}

// measure runs o.rounds rounds of each server at conns connections (rate
// requests per second per connection, 0 = saturated), alternating the
// servers round by round and the order every round (A B, B A, A B, ...).
func measure(ctx context.Context, o options, servers []string, targets map[string]target, conns int, rate float64, log *slog.Logger) (map[string]*series, error) {
	out := map[string]*series{}
	for _, s := range servers {
		out[s] = &series{}
		if o.warmup > 0 {
			if _, err := o.load(ctx, targets[s], conns, o.warmup, rate); err != nil {
				return nil, err
			}
		}
	}
	for round := range o.rounds {
		order := append([]string{}, servers...)
		if round%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, s := range order {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			r, err := o.load(ctx, targets[s], conns, o.duration, rate)
			if err != nil {
				return nil, err
			}
			log.Info("round", "server", s, "conns", conns, "round", round+1, "req/s", int(r.throughput()), "p99", r.hist.quantile(0.99), "errors", r.errors)
			out[s].add(r)
		}
	}
	return out, nil
}

// reference is the baseline ratios are taken against: the first bare
// server, else the last server.
func reference(servers []string) string {
	for _, s := range servers {
		if strings.HasPrefix(s, serverBare) {
			return s
		}
	}
	return servers[len(servers)-1]
}

// pairedRatios are s's round-by-round throughput over ref's, sorted.
func pairedRatios(s, ref *series) []float64 {
	var out []float64
	for i := range min(len(s.rounds), len(ref.rounds)) {
		if t := ref.rounds[i].throughput(); t > 0 {
			out = append(out, s.rounds[i].throughput()/t)
		}
	}
	slices.Sort(out)
	return out
}

// quartiles returns the median and the first and third quartiles of the
// sorted xs.
func quartiles(xs []float64) (q1, med, q3 float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	at := func(q float64) float64 {
		pos := q * float64(len(xs)-1)
		i := int(pos)
		if i+1 >= len(xs) {
			return xs[len(xs)-1]
		}
		return xs[i] + (pos-float64(i))*(xs[i+1]-xs[i])
	}
	return at(0.25), at(0.5), at(0.75)
}

// cpuPerRequest is the servers' CPU time per request over all rounds, or 0
// when it was not measured.
func (s *series) cpuPerRequest() time.Duration {
	var n int64
	var cpu time.Duration
	for _, r := range s.rounds {
		n += r.requests
		cpu += r.serverCPU
	}
	if n == 0 || cpu <= 0 {
		return 0
	}
	return cpu / time.Duration(n)
}

func throughputSections(ctx context.Context, o options, dir string, w *bufio.Writer, log *slog.Logger) error {
	world, err := startInproc(ctx, o.servers, dir)
	if err != nil {
		return err
	}
	defer world.close()
	ref := reference(o.servers)
	if o.has("throughput") {
		fmt.Fprintf(w, "### Endpoint throughput (saturated, keep-alive)\n\n")
		fmt.Fprintf(w, "%s. %d rounds of %s per server and connection count, alternated (the order reversed every round); ratios against %s.\n\n",
			o.where(), o.rounds, o.duration, ref)
		header, sep := "| conns |", "| ---: |"
		for _, s := range o.servers {
			if s != ref {
				header += fmt.Sprintf(" %s / %s req/s: median of rounds (IQR) |", s, ref)
				sep += " :---: |"
				if o.loadProcess {
					header += fmt.Sprintf(" %s / %s requests per CPU second |", s, ref)
					sep += " :---: |"
				}
			}
		}
		for _, s := range o.servers {
			header += fmt.Sprintf(" %s req/s |", s)
			sep += " ---: |"
		}
		for _, s := range o.servers {
			header += fmt.Sprintf(" %s p50 / p99 |", s)
			sep += " ---: |"
		}
		if o.loadProcess {
			for _, s := range o.servers {
				header += fmt.Sprintf(" %s CPU/req |", s)
				sep += " ---: |"
			}
		}
		header += " errors |"
		sep += " ---: |"
		fmt.Fprintln(w, header)
		fmt.Fprintln(w, sep)
		w.Flush()
		for _, n := range o.conns {
			res, err := measure(ctx, o, o.servers, world.targets, n, 0, log)
			if err != nil {
				return err
			}
			writeRow(w, o, ref, n, res)
			w.Flush()
		}
		fmt.Fprintln(w)
	}
	if o.has("latency") {
		fmt.Fprintf(w, "### Endpoint latency at a paced load\n\n")
		fmt.Fprintf(w, "%s. %d connections, each sending %g requests/s; %d rounds of %s per server, alternated.\n\n", o.where(), o.pacedConns, o.pacedRate, o.rounds, o.duration)
		fmt.Fprintln(w, "| server | req/s | p50 | p99 | p99.9 | max bucket | errors |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
		res, err := measure(ctx, o, o.servers, world.targets, o.pacedConns, o.pacedRate, log)
		if err != nil {
			return err
		}
		for _, s := range o.servers {
			sr := res[s]
			nerr, first := sr.errors()
			fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s |\n", s, sr.throughput(), fmtDur(sr.hist.quantile(0.5)),
				fmtDur(sr.hist.quantile(0.99)), fmtDur(sr.hist.quantile(0.999)), fmtDur(sr.hist.quantile(1)), fmtErrors(nerr, first))
		}
		fmt.Fprintln(w)
	}
	return nil
}

func writeRow(w *bufio.Writer, o options, ref string, conns int, res map[string]*series) {
	row := fmt.Sprintf("| %d |", conns)
	for _, s := range o.servers {
		if s != ref {
			q1, med, q3 := quartiles(pairedRatios(res[s], res[ref]))
			row += fmt.Sprintf(" **%.3f** (%.2f–%.2f) |", med, q1, q3)
			if o.loadProcess {
				if a, b := res[s].cpuPerRequest(), res[ref].cpuPerRequest(); a > 0 && b > 0 {
					row += fmt.Sprintf(" %.3f |", float64(b)/float64(a))
				} else {
					row += " – |"
				}
			}
		}
	}
	for _, s := range o.servers {
		row += fmt.Sprintf(" %.0f |", res[s].throughput())
	}
	for _, s := range o.servers {
		row += fmt.Sprintf(" %s / %s |", fmtDur(res[s].hist.quantile(0.5)), fmtDur(res[s].hist.quantile(0.99)))
	}
	if o.loadProcess {
		for _, s := range o.servers {
			row += fmt.Sprintf(" %.1f µs |", float64(res[s].cpuPerRequest())/float64(time.Microsecond))
		}
	}
	var nerr int64
	var first error
	for _, s := range o.servers {
		n, f := res[s].errors()
		nerr += n
		if first == nil {
			first = f
		}
	}
	row += " " + fmtErrors(nerr, first) + " |"
	fmt.Fprintln(w, row)
}

func fmtErrors(n int64, first error) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%v)", n, first)
}

// fmtDur prints a latency in µs or ms with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}
