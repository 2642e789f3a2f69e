//go:build linux

package daemon

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile is this process's resident pages of mapped files, in KiB.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestDropCode drops the test binary's read-only pages from the resident
// set, and the process goes on running the code they hold.
func TestDropCode(t *testing.T) {
	before := rssFile(t)
	releaseMemory()
	after := rssFile(t)
	if after >= before {
		t.Errorf("RssFile %d KiB before, %d KiB after", before, after)
	}
	// Code runs on: the pages come back as it is used.
	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString(strconv.Itoa(i))
	}
	if sb.Len() != 2890 {
		t.Fatalf("built %d bytes", sb.Len())
	}
	t.Logf("RssFile %d KiB before, %d KiB after", before, after)
}
