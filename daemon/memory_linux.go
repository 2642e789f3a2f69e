//go:build linux

package daemon

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// dropCode drops the pages of the daemon's executable that are mapped
// read-only (its code and read-only data) from the process's resident
// set. They stay in the page cache, shared with every other mfad process,
// and a page used again is mapped back by a minor fault: what start-up, an
// unlock or a burst of work touched once no longer counts as the idle
// daemon's memory. Only mappings without a private copy of any page are
// dropped (MADV_DONTNEED would reset a copied page — a relocated one in a
// position-independent build — to the file's contents), and never a
// writable one.
func dropCode() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	defer f.Close()
	type mapping struct {
		start, end uint64
		ok         bool
	}
	var cur mapping
	var drop []mapping
	done := func() {
		if cur.ok {
			drop = append(drop, cur)
		}
		cur = mapping{}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if k, ok := strings.CutSuffix(fields[0], ":"); ok {
			// A field of the current mapping: any private copy rules it out.
			if k == "Anonymous" && len(fields) > 1 && fields[1] != "0" {
				cur.ok = false
			}
			continue
		}
		// A mapping's header: start-end perms offset dev inode path.
		done()
		if len(fields) < 6 || fields[5] != exe || len(fields[1]) < 4 || strings.Contains(fields[1], "w") || fields[1][3] != 'p' {
			continue
		}
		from, to, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(from, 16, 64)
		end, err2 := strconv.ParseUint(to, 16, 64)
		cur = mapping{start: start, end: end, ok: err1 == nil && err2 == nil && end > start}
	}
	done()
	if sc.Err() != nil {
		return
	}
	for _, m := range drop {
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, uintptr(m.start), uintptr(m.end-m.start), syscall.MADV_DONTNEED)
	}
}
