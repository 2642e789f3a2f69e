package configs

import (
	"embed"
	"fmt"
)

//go:embed systemd/*.tmpl launchd/*.tmpl
var serviceTemplates embed.FS

// Service templates, for ServiceTemplate. They are text/template sources;
// `mfad service install` renders them.
const (
	// SystemdUnitTemplate is the systemd user unit (mfad.service).
	SystemdUnitTemplate = "systemd/mfad.service.tmpl"
	// SystemdEnvironmentTemplate is the environment.d file that points new
	// login sessions at the daemon.
	SystemdEnvironmentTemplate = "systemd/environment.conf.tmpl"
	// LaunchdDaemonTemplate is the launchd agent that runs the daemon.
	LaunchdDaemonTemplate = "launchd/daemon.plist.tmpl"
	// LaunchdEnvironmentTemplate is the launchd agent that sets the client
	// variables at each login.
	LaunchdEnvironmentTemplate = "launchd/environment.plist.tmpl"
)

// ServiceTemplate returns the text of one of the service templates named
// by the constants above.
func ServiceTemplate(name string) (string, error) {
	b, err := serviceTemplates.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("service template %s: %w", name, err)
	}
	return string(b), nil
}
