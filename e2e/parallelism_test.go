package e2e

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/c0950fac/mfad/internal/testenv"
)

// TestDaemonServesOnOneCPUUntilClientsCrowd runs `mfad daemon` as users do:
// on one P while its clients ask one at a time, on every P as soon as
// several ask at once, and on one P again once they have stopped.
func TestDaemonServesOnOneCPUUntilClientsCrowd(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: the daemon has nothing to switch")
	}
	const serial, parallel = "serving on one CPU", "serving on every CPU"
	w := newWorld(t)
	w.startDaemon()
	w.addAndUnlock()
	env := w.envVars("work")
	url, tok := env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
	count := func(s string) int { return strings.Count(w.logs.String(), s) }
	testenv.WaitFor(t, "the daemon to serve on one CPU", func() bool { return count(serial) == 1 })

	// One client asking again and again on one connection.
	for range 500 {
		if status, err := endpointStatus(url, tok); err != nil || status != http.StatusOK {
			t.Fatalf("fetch: %d, %v", status, err)
		}
	}
	if n := count(parallel); n != 0 {
		t.Fatalf("one client made the daemon serve on every CPU:\n%s", w.logs.String())
	}

	// Eight clients at once, each on a connection of its own.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			c := &http.Client{Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			for range 50 {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", tok)
				resp, err := c.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a concurrent fetch failed: %v", err)
	}
	testenv.WaitFor(t, "the daemon to serve on every CPU", func() bool { return count(parallel) == 1 })
	testenv.WaitFor(t, "the daemon to serve on one CPU again", func() bool { return count(serial) == 2 })
}
