package childenv

import (
	"slices"
	"testing"
)

func TestScrub(t *testing.T) {
	in := []string{"PATH=/bin", "MFAD_FILE_PASSPHRASE=hunter2hunter2", "MFAD_PROFILE=work", "MFAD_FILE_PASSPHRASE_X=kept", "HOME=/h"}
	got := Scrub(in)
	want := []string{"PATH=/bin", "MFAD_PROFILE=work", "MFAD_FILE_PASSPHRASE_X=kept", "HOME=/h"}
	if !slices.Equal(got, want) {
		t.Errorf("Scrub = %q, want %q", got, want)
	}
	if len(in) != 5 || in[1] != "MFAD_FILE_PASSPHRASE=hunter2hunter2" {
		t.Errorf("Scrub changed its input: %q", in)
	}
}

func TestEnviron(t *testing.T) {
	t.Setenv("MFAD_FILE_PASSPHRASE", "hunter2hunter2")
	for _, kv := range Environ() {
		if kv == "MFAD_FILE_PASSPHRASE=hunter2hunter2" {
			t.Fatal("Environ kept the keystore passphrase")
		}
	}
}
