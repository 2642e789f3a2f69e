package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadSettle is how long the configuration files must stay quiet before
// the daemon reads them again: an editor's save is several events.
const reloadSettle = 200 * time.Millisecond

// watchConfig calls reload when one of files changes — created, written,
// renamed over or removed — or when the process gets SIGHUP, until ctx
// ends. It watches the files' directories, so that editors that save by
// writing a new file and renaming it over the old one are seen, and files
// that do not exist yet are seen when they appear.
func watchConfig(ctx context.Context, log *slog.Logger, files []string, reload func()) {
	hup := make(chan os.Signal, 1)
	if sigs := reloadSignals(); len(sigs) > 0 {
		signal.Notify(hup, sigs...)
		defer signal.Stop(hup)
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("cannot watch the configuration files: reload with SIGHUP", "error", err)
	} else {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}
	watched := map[string]bool{}
	for _, f := range files {
		if f == "" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			continue
		}
		watched[abs] = true
		if w == nil {
			continue
		}
		dir := filepath.Dir(abs)
		if err := w.Add(dir); err != nil {
			log.Info("cannot watch a configuration file's directory: changes there need SIGHUP", "dir", dir, "error", err)
		}
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reading the configuration again")
			reload()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if watched[filepath.Clean(ev.Name)] && !ev.Has(fsnotify.Chmod) {
				settle.Reset(reloadSettle)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			log.Warn("watching the configuration files failed; reload with SIGHUP", "error", err)
		case <-settle.C:
			log.Info("a configuration file changed: reading the configuration again")
			reload()
		}
	}
}
