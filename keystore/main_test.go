package keystore

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// With helperFileEnv set, the test binary acts as a separate mfad process
// that writes to the keystore file it names (see TestFileConcurrentProcesses).
const (
	helperFileEnv = "MFAD_KEYSTORE_TEST_HELPER_FILE"
	helperIDEnv   = "MFAD_KEYSTORE_TEST_HELPER_ID"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(helperFileEnv); path != "" {
		if err := helperProcess(path, os.Getenv(helperIDEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperProcess opens the file store at path and sets ten profiles.
func helperProcess(path, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := OpenFile(ctx, path, staticPassphrase(testPassphrase), WithKDFParams(cheapKDF))
	if err != nil {
		return err
	}
	for i := range 10 {
		p := fmt.Sprintf("proc%s-%d", id, i)
		if err := s.Set(ctx, p, SessionItem, []byte(p)); err != nil {
			return err
		}
	}
	return nil
}
