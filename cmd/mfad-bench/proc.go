package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// procSample is what /proc says of a process at one instant.
type procSample struct {
	at time.Time
	// rssKiB and hwmKiB are VmRSS and VmHWM.
	rssKiB, hwmKiB int64
	// anonKiB and fileKiB split VmRSS: private memory (the heap, stacks)
	// and mapped files (the binary's pages, shared with other mfad
	// processes and the page cache).
	anonKiB, fileKiB int64
	// threads is the number of threads.
	threads int
	// ticks is utime+stime from /proc/PID/stat, in clock ticks.
	ticks int64
	// onCPU is the time its threads ran, from their schedstat (ns
	// resolution; 0 when the kernel keeps no schedstat).
	onCPU time.Duration
	// switches counts the context switches of its threads: how often they
	// woke up or were preempted.
	switches int64
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times; it is 100 on
// every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

func sampleProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	base := fmt.Sprintf("/proc/%d", pid)
	status, err := os.ReadFile(base + "/status")
	if err != nil {
		return s, fmt.Errorf("read the daemon's status: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			s.rssKiB = n
		case "VmHWM":
			s.hwmKiB = n
		case "RssAnon":
			s.anonKiB = n
		case "RssFile":
			s.fileKiB = n
		case "Threads":
			s.threads = int(n)
		}
	}
	stat, err := os.ReadFile(base + "/stat")
	if err != nil {
		return s, fmt.Errorf("read the daemon's stat: %w", err)
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are fields 14 and 15 of the line, 12 and 13 after ")".
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.ticks = ut + st
	tasks, _ := filepath.Glob(base + "/task/*")
	for _, t := range tasks {
		if b, err := os.ReadFile(t + "/schedstat"); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				ns, _ := strconv.ParseInt(f[0], 10, 64)
				s.onCPU += time.Duration(ns)
			}
		}
		if b, err := os.ReadFile(t + "/status"); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					s.switches += n
				}
			}
		}
	}
	return s, nil
}

// processCPU is the user and system CPU time process pid has used (this
// process when pid is 0): getrusage for this one, /proc/PID/stat for
// another, in clock ticks, which every round spans by hundreds.
func processCPU(pid int) time.Duration {
	if pid == 0 {
		return selfCPU()
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick
}
