//go:build !darwin && !windows

package keystore

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// sessionBusCheck reports an error when no D-Bus session bus can be found
// without starting one. Left alone, the D-Bus library would run dbus-launch,
// which starts a new bus (and, by activation, a new keyring daemon holding
// none of the user's secrets) that outlives mfad. The places looked at are
// the ones the library itself tries first.
func sessionBusCheck() error {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return nil
	}
	dir := filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	for _, name := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is unset and %s does not exist", filepath.Join(dir, "bus"))
}
