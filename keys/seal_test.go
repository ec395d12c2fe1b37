package keys_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/oauthkit/authserver/keys"
)

func TestNewSealerKeySize(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		ok   bool
	}{
		{"empty", 0, false},
		{"aes-128", 16, false},
		{"one-short", 31, false},
		{"aes-256", 32, true},
		{"one-long", 33, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keys.NewSealer(make([]byte, tc.size))
			if (err == nil) != tc.ok {
				t.Fatalf("NewSealer(%d bytes) error = %v, want ok=%v", tc.size, err, tc.ok)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	sealer := newSealer(t)
	other := newSealer(t)
	sealed, err := sealer.Seal([]byte("private key bytes"), []byte("kid-1"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1

	for _, tc := range []struct {
		name   string
		sealer *keys.Sealer
		sealed []byte
		aad    string
		want   string // "" for failure
	}{
		{"round-trip", sealer, sealed, "kid-1", "private key bytes"},
		{"wrong-kek", other, sealed, "kid-1", ""},
		{"aad-mismatch", sealer, sealed, "kid-2", ""},
		{"tampered", sealer, tampered, "kid-1", ""},
		{"truncated", sealer, sealed[:10], "kid-1", ""},
		{"empty", sealer, nil, "kid-1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.sealer.Open(tc.sealed, []byte(tc.aad))
			if tc.want == "" {
				if !errors.Is(err, keys.ErrSealed) {
					t.Fatalf("Open error = %v, want ErrSealed", err)
				}
				if !strings.Contains(err.Error(), "wrong encryption key or corrupted record") {
					t.Errorf("error %q does not say what is wrong", err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("Open = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	sealer := newSealer(t)
	a, _ := sealer.Seal([]byte("same"), nil)
	b, _ := sealer.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical: nonce reused")
	}
}

func TestLoadOrCreateKEKFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "kek")

	kek, created, err := keys.LoadOrCreateKEKFile(path)
	if err != nil || !created || len(kek) != keys.KEKSize {
		t.Fatalf("create: %d bytes, created=%v, err=%v", len(kek), created, err)
	}
	assertMode(t, dir, 0o700)
	assertMode(t, path, 0o600)

	again, created, err := keys.LoadOrCreateKEKFile(path)
	if err != nil || created || !bytes.Equal(again, kek) {
		t.Fatalf("re-read: equal=%v created=%v err=%v", bytes.Equal(again, kek), created, err)
	}
	if _, err := keys.NewSealer(kek); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOrCreateKEKFileRefuses(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, keys.KEKSize))
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
	}{
		{"group-readable", good, 0o640},
		{"world-readable", good, 0o604},
		{"not-base64", "not a key!", 0o600},
		{"short-key", base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600},
		{"empty", "", 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			kek, _, err := keys.LoadOrCreateKEKFile(path)
			if err == nil {
				t.Fatalf("LoadOrCreateKEKFile accepted it (%d bytes)", len(kek))
			}
			if strings.Contains(err.Error(), good) {
				t.Errorf("error leaks the key: %v", err)
			}
		})
	}
}

func TestLoadOrCreateKEKFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", "kek")
	const n = 8
	var (
		wg      sync.WaitGroup
		keks    [n][]byte
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() { keks[i], created[i], errs[i] = keys.LoadOrCreateKEKFile(path) })
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if !bytes.Equal(keks[i], keks[0]) {
			t.Fatalf("call %d returned another key", i)
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Fatalf("%d calls report creating the file, want 1", creators)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the kek file", len(entries))
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", path, got, want)
	}
}
