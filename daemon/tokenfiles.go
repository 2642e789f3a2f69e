package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Client tokens outlive a daemon restart: each one's value is in
// tokens/ID (the AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE clients read) and
// what it is for in tokens/ID.json. A restarted daemon honours them, so
// shells that ran `eval "$(mfad env)"` and commands under `mfad exec` keep
// working across an upgrade, a crash or a configuration change. The runtime
// directory is per login session, which bounds their life.

// orphanGrace is how long a restored exec token waits for its `mfad exec`
// to reconnect and adopt it before it is revoked.
const orphanGrace = time.Minute

// restartGrace bounds the downtime after which client tokens are still
// honoured. While no daemon listens, another local user could take the port
// and collect the tokens clients send; a short, clean restart on the same
// port keeps that window small, anything else drops the tokens.
const restartGrace = 2 * time.Minute

// StoppedFile records when the daemon last stopped cleanly (Unix seconds).
const StoppedFile = "stopped"

// markStopped records a clean stop, for the next daemon's restartGrace.
func (d *Daemon) markStopped() {
	if d.runDir == "" {
		return
	}
	_ = writeFileAtomic(filepath.Join(d.runDir, StoppedFile), []byte(fmt.Sprint(d.clock.Now().Unix())))
}

// recentCleanStop reports whether the previous daemon stopped cleanly less
// than restartGrace ago; it consumes the record.
func (d *Daemon) recentCleanStop() bool {
	path := filepath.Join(d.runDir, StoppedFile)
	b, err := os.ReadFile(path)
	os.Remove(path)
	if err != nil {
		return false
	}
	var at int64
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &at); err != nil {
		return false
	}
	since := d.clock.Now().Sub(time.Unix(at, 0))
	return since >= 0 && since < restartGrace
}

// tokenMeta is the description stored beside a token file.
type tokenMeta struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Profile string    `json:"profile"`
	Label   string    `json:"label,omitempty"`
	Created time.Time `json:"created"`
	PID     int       `json:"pid,omitempty"`
	// WatchPID is the process whose exit revokes the token.
	WatchPID int `json:"watch_pid,omitempty"`
}

// persistToken writes a client token's file and its description.
func (d *Daemon) persistToken(t Token) (string, error) {
	path, err := d.writeTokenFile(t)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(tokenMeta{ID: t.ID, Kind: t.Kind, Profile: t.Profile, Label: t.Label, Created: t.Created, PID: t.PID, WatchPID: t.WatchPID})
	if err := writeFileAtomic(path+".json", b); err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// removeTokenFiles removes a token's files.
func removeTokenFiles(file string) error {
	var errs []error
	for _, f := range []string{file, file + ".json"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// restoreTokens registers the client tokens a previous daemon left in the
// runtime directory, when it stopped cleanly less than restartGrace ago and
// this daemon listens on the same address; otherwise it removes them. Exec
// tokens must be adopted again by their `mfad exec` within orphanGrace, or
// they are revoked.
func (d *Daemon) restoreTokens(sameAddress bool) {
	dir := filepath.Join(d.runDir, TokensDir)
	metas, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	keep := sameAddress && d.recentCleanStop()
	if !keep && len(metas) > 0 {
		d.log.Info("not restoring the previous daemon's client tokens: it did not stop cleanly within "+restartGrace.String()+" or its address changed; run `mfad env` again in open shells", "tokens", len(metas))
	}
	for _, mf := range metas {
		if !keep {
			removeTokenFiles(strings.TrimSuffix(mf, ".json"))
			continue
		}
		file := strings.TrimSuffix(mf, ".json")
		var m tokenMeta
		b, err := os.ReadFile(mf)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		value, verr := os.ReadFile(file)
		_, known := d.t().profiles[m.Profile]
		if err != nil || verr != nil || m.ID != filepath.Base(file) || !known ||
			(m.Kind != TokenEnv && m.Kind != TokenExec) ||
			!d.tokens.restore(Token{ID: m.ID, Kind: m.Kind, Profile: m.Profile, Label: m.Label, Created: m.Created, PID: m.PID, WatchPID: m.WatchPID, File: file}, string(value)) {
			d.log.Info("dropping a token file left by an earlier daemon", "file", file)
			removeTokenFiles(file)
			continue
		}
		if m.WatchPID > 0 {
			d.watchHolder(m.ID, m.WatchPID)
		}
		if m.Kind == TokenExec {
			d.orphans.Store(m.ID, d.clock.AfterFunc(orphanGrace, func() {
				if _, ok := d.orphans.LoadAndDelete(m.ID); ok {
					if _, err := d.revokeToken(m.ID); err == nil {
						d.log.Info("revoked an exec token nobody adopted after the restart", "token", m.ID)
					}
				}
			}))
		}
		d.log.Debug("restored token", "token", m.ID, "kind", m.Kind, "profile", m.Profile)
	}
}

// previousEndpoint returns the address the previous daemon listened on, so
// a restart keeps the URL that clients already hold.
func previousEndpoint(runDir string) string {
	b, err := os.ReadFile(filepath.Join(runDir, EndpointFile))
	if err != nil {
		return ""
	}
	u, err := url.Parse(strings.TrimSpace(string(b)))
	if err != nil || u.Scheme != "http" {
		return ""
	}
	if host, _, err := net.SplitHostPort(u.Host); err != nil || host != "127.0.0.1" {
		return ""
	}
	return u.Host
}

// listenEndpoint listens on addr; when addr asks for any free port, it
// first tries the previous daemon's port.
func listenEndpoint(addr, runDir string) (net.Listener, error) {
	if _, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
		if prev := previousEndpoint(runDir); prev != "" {
			if ln, err := ListenEndpoint(prev); err == nil {
				return ln, nil
			}
		}
	}
	ln, err := ListenEndpoint(addr)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	return ln, nil
}
