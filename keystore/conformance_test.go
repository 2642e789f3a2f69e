package keystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey is a well-formed access key; its secret is searched for in every
// error and printout by the redaction tests.
var testKey = AccessKey{
	AccessKeyID:     "AKIAIOSFODNN7EXAMPLE",
	SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// binaryValue holds every byte value, NUL and invalid UTF-8 included.
func binaryValue() []byte {
	v := make([]byte, 0, 300)
	for i := range 256 {
		v = append(v, byte(i))
	}
	return append(v, 0xff, 0xfe, 0x00, 0xc3, 0x28)
}

// runConformance checks the Store contract against a fresh, empty store
// from newStore.
func runConformance(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("Empty", func(t *testing.T) {
		ctx := testContext(t)
		s := newStore(t)
		names, err := s.Profiles(ctx)
		if err != nil || len(names) != 0 {
			t.Fatalf("Profiles() = %v, %v; want none", names, err)
		}
		_, err = s.Get(ctx, "prod", AccessKeyItem)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of absent item: err = %v; want ErrNotFound", err)
		}
		if !strings.Contains(err.Error(), `"prod"`) || !strings.Contains(err.Error(), s.Backend()) {
			t.Errorf("not-found error %q should name the profile and the backend", err)
		}
		if err := s.Delete(ctx, "prod", SessionItem); err != nil {
			t.Fatalf("Delete of absent item: %v", err)
		}
	})

	t.Run("SetGetOverwriteDelete", func(t *testing.T) {
		ctx := testContext(t)
		s := newStore(t)
		if err := s.Set(ctx, "prod", SessionItem, []byte(`{"v":1}`)); err != nil {
			t.Fatalf("Set: %v", err)
		}
		mustGet(t, s, "prod", SessionItem, []byte(`{"v":1}`))
		if err := s.Set(ctx, "prod", SessionItem, []byte(`{"v":2}`)); err != nil {
			t.Fatalf("Set (overwrite): %v", err)
		}
		mustGet(t, s, "prod", SessionItem, []byte(`{"v":2}`))
		mustProfiles(t, s, "prod")
		if err := s.Delete(ctx, "prod", SessionItem); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Get(ctx, "prod", SessionItem); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete: err = %v; want ErrNotFound", err)
		}
		mustProfiles(t, s)
		if err := s.Delete(ctx, "prod", SessionItem); err != nil {
			t.Fatalf("second Delete: %v", err)
		}
	})

	t.Run("ProfilesSortedAndItemsSeparate", func(t *testing.T) {
		ctx := testContext(t)
		s := newStore(t)
		for _, p := range []string{"zeta", "alpha", "Mid.dle_1-x"} {
			if err := s.Set(ctx, p, TOTPItem, []byte("otpauth://totp/"+p)); err != nil {
				t.Fatalf("Set %s: %v", p, err)
			}
		}
		if err := s.Set(ctx, "alpha", SessionItem, []byte("session-alpha")); err != nil {
			t.Fatal(err)
		}
		mustProfiles(t, s, "Mid.dle_1-x", "alpha", "zeta")
		mustGet(t, s, "alpha", TOTPItem, []byte("otpauth://totp/alpha"))
		mustGet(t, s, "alpha", SessionItem, []byte("session-alpha"))
		if _, err := s.Get(ctx, "zeta", SessionItem); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of another item of the profile: err = %v; want ErrNotFound", err)
		}
		// A profile stays listed while it has one item left.
		if err := s.Delete(ctx, "alpha", TOTPItem); err != nil {
			t.Fatal(err)
		}
		mustProfiles(t, s, "Mid.dle_1-x", "alpha", "zeta")
		if err := s.Delete(ctx, "alpha", SessionItem); err != nil {
			t.Fatal(err)
		}
		mustProfiles(t, s, "Mid.dle_1-x", "zeta")
	})

	t.Run("BinaryValues", func(t *testing.T) {
		ctx := testContext(t)
		s := newStore(t)
		bin := binaryValue()
		if err := s.Set(ctx, "bin", TOTPItem, bin); err != nil {
			t.Fatalf("Set binary: %v", err)
		}
		mustGet(t, s, "bin", TOTPItem, bin)
		// A text value that happens to look like the OS backend's binary marker.
		tricky := []byte(osBinaryPrefix + "not base64!")
		if err := s.Set(ctx, "bin", SessionItem, tricky); err != nil {
			t.Fatal(err)
		}
		mustGet(t, s, "bin", SessionItem, tricky)
		unicode := []byte("pässwörd ✓ \t\n")
		if err := s.Set(ctx, "bin", AccessKeyItem, unicode); err != nil {
			t.Fatal(err)
		}
		mustGet(t, s, "bin", AccessKeyItem, unicode)
	})

	t.Run("ValuesAreCopied", func(t *testing.T) {
		ctx := testContext(t)
		s := newStore(t)
		v := []byte("original")
		if err := s.Set(ctx, "copy", SessionItem, v); err != nil {
			t.Fatal(err)
		}
		copy(v, "XXXXXXXX")
		got, err := s.Get(ctx, "copy", SessionItem)
		if err != nil {
			t.Fatal(err)
		}
		copy(got, "YYYYYYYY")
		mustGet(t, s, "copy", SessionItem, []byte("original"))
	})

	t.Run("AccessKeyHelpersAndRemoveProfile", func(t *testing.T) {
		ctx := testContext(t)
		s := newStore(t)
		if err := PutAccessKey(ctx, s, "dev", testKey); err != nil {
			t.Fatalf("PutAccessKey: %v", err)
		}
		got, err := GetAccessKey(ctx, s, "dev")
		if err != nil || got != testKey {
			t.Fatalf("GetAccessKey = %v, %v; want the stored key", got, err)
		}
		if err := s.Set(ctx, "dev", SessionItem, []byte("s")); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "keep", SessionItem, []byte("k")); err != nil {
			t.Fatal(err)
		}
		if err := RemoveProfile(ctx, s, "dev"); err != nil {
			t.Fatalf("RemoveProfile: %v", err)
		}
		for _, item := range Items() {
			if _, err := s.Get(ctx, "dev", item); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get %s after RemoveProfile: err = %v; want ErrNotFound", item, err)
			}
		}
		mustProfiles(t, s, "keep")
		if err := RemoveProfile(ctx, s, "dev"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RemoveProfile of an empty profile: err = %v; want ErrNotFound", err)
		}
		if _, err := GetAccessKey(ctx, s, "dev"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetAccessKey of removed profile: err = %v; want ErrNotFound", err)
		}
	})

	t.Run("RejectsBadNames", func(t *testing.T) {
		ctx := testContext(t)
		s := newStore(t)
		for _, p := range []string{"", "-x", ".x", "a/b", "a b", "_index/x", strings.Repeat("a", 65)} {
			if err := s.Set(ctx, p, SessionItem, []byte("v")); err == nil {
				t.Errorf("Set with profile %q succeeded; want an error", p)
			}
			if _, err := s.Get(ctx, p, SessionItem); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("Get with profile %q: err = %v; want a validation error", p, err)
			}
		}
		if err := s.Set(ctx, "ok", Item("password"), []byte("v")); err == nil || !strings.Contains(err.Error(), "access-key") {
			t.Errorf("Set with unknown item: err = %v; want one listing the valid items", err)
		}
		if err := s.Set(ctx, "ok", SessionItem, nil); err == nil {
			t.Error("Set of an empty value succeeded; want an error")
		}
		mustProfiles(t, s)
	})

	t.Run("ConcurrentSets", func(t *testing.T) {
		ctx := testContext(t)
		s := newStore(t)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 10 {
			wg.Go(func() {
				p := fmt.Sprintf("c%02d", i)
				errs <- s.Set(ctx, p, SessionItem, []byte(p))
				errs <- s.Set(ctx, "shared", Items()[i%len(Items())], []byte("v"))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"shared"}
		for i := range 10 {
			want = append(want, fmt.Sprintf("c%02d", i))
		}
		slices.Sort(want)
		mustProfiles(t, s, want...)
		for _, p := range want[:10] {
			mustGet(t, s, p, SessionItem, []byte(p))
		}
		for _, item := range Items() {
			mustGet(t, s, "shared", item, []byte("v"))
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		s := newStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Set(ctx, "p", SessionItem, []byte("v")); !errors.Is(err, context.Canceled) {
			t.Errorf("Set with canceled context: err = %v; want context.Canceled", err)
		}
		if _, err := s.Get(ctx, "p", SessionItem); !errors.Is(err, context.Canceled) {
			t.Errorf("Get with canceled context: err = %v; want context.Canceled", err)
		}
	})
}

func mustGet(t *testing.T, s Store, profile string, item Item, want []byte) {
	t.Helper()
	got, err := s.Get(testContext(t), profile, item)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", profile, item, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%s, %s) = %q; want %q", profile, item, got, want)
	}
}

func mustProfiles(t *testing.T, s Store, want ...string) {
	t.Helper()
	got, err := s.Profiles(testContext(t))
	if err != nil {
		t.Fatalf("Profiles: %v", err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Profiles() = %q; want %q", got, want)
	}
}

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(*testing.T) Store { return NewMemory() })
}
