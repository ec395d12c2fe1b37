package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store/embedded"
	"github.com/oauthkit/authserver/keys"
)

// TestUnknownCommand: a typo in a provisioning script fails with one line
// on stderr, for the root and every command group, instead of printing
// help and exiting 0.
func TestUnknownCommand(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"frobnicate"},
		{"users", "frobnicate"},
		{"keys", "frobnicate"},
		{"sessions", "frobnicate"},
		{"clients", "frobnicate"},
		{"config", "frobnicate"},
		{"users", "frobnicate", "bob"},
	} {
		out, stderr, code := cli(t, dir, "", nil, args...)
		want := `authserver: unknown command "frobnicate" for "authserver`
		if code == 0 || out != "" || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want non-zero, nothing on stdout, one line %q…", args, code, out, stderr, want)
		}
	}
	if _, stderr, code := cli(t, dir, "", nil, "config", "chek"); code == 0 || !strings.Contains(stderr, `did you mean "check"?`) {
		t.Errorf("config chek: exit %d, stderr %q; want a suggestion", code, stderr)
	}
	// A group alone still explains itself.
	if out, _, code := cli(t, dir, "", nil, "users"); code != 0 || !strings.Contains(out, "Available Commands:") {
		t.Errorf("users: exit %d, stdout %q; want its help", code, out)
	}
}

// dashKeys are Ed25519 keys (by seed) whose kids start with '-' and
// "--", as one kid in 64 made before kids were drawn again did.
var dashKeys = []struct {
	seed uint64
	kid  string
}{
	{19, "-xrdkUKx6vuxnvnTzdqcuJdq7nKaYT13P61vhbU6KEw"},
	{1999, "--YUEPXKDxL_UA5r-4kAV_frZjK_03cSj9ZmZafMLLQ"},
}

// storeDashKeySet writes a key set into the embedded store at path, as
// keys.Marshal lays it out: dashKeys[0] active, dashKeys[1] next.
func storeDashKeySet(t *testing.T, path string, kek []byte) {
	t.Helper()
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	type record struct {
		KID       string    `json:"kid"`
		Alg       string    `json:"alg"`
		State     string    `json:"state"`
		Created   time.Time `json:"created"`
		SealedKey []byte    `json:"sealed_key"`
	}
	var recs []record
	for i, k := range dashKeys {
		seed := make([]byte, ed25519.SeedSize)
		binary.LittleEndian.PutUint64(seed, k.seed)
		der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed))
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := sealer.Seal(der, []byte(k.kid))
		if err != nil {
			t.Fatal(err)
		}
		state := []string{"active", "next"}[i]
		recs = append(recs, record{KID: k.kid, Alg: keys.EdDSA, State: state, Created: time.Now().Add(-time.Hour), SealedKey: sealed})
	}
	blob, err := json.Marshal(map[string]any{"format": 1, "retention": "1h0m0s", "keys": recs})
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok, err := st.SwapKeySet(context.Background(), 0, blob); err != nil || !ok {
		t.Fatalf("store the key set: %v %v", ok, err)
	}
}

// TestDashArguments pastes kids that start with '-' (and "--") into
// `keys retire` and `keys revoke`, and gives user names and family ids
// that start with '-', with the flags before and after them: each is read
// as the argument it is, not as a flag.
func TestDashArguments(t *testing.T) {
	dir := t.TempDir()
	kek := make([]byte, keys.KEKSize)
	db := filepath.Join(dir, "data", "a.db")
	cfg := filepath.Join(dir, "authserver.yaml")
	os.WriteFile(cfg, []byte("keys: {encryption_key: "+base64.StdEncoding.EncodeToString(kek)+"}\nstore: {embedded: {path: "+db+"}}\n"), 0o600)
	os.MkdirAll(filepath.Dir(db), 0o700)
	storeDashKeySet(t, db, kek)
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, stderr, code := cli(t, dir, stdin, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return out + stderr
	}
	list := func() string { return run("", "keys", "list", "--config", cfg) }
	active, next := dashKeys[0].kid, dashKeys[1].kid
	if out := list(); !strings.Contains(out, active+"  EdDSA  active") || !strings.Contains(out, next+"  EdDSA  next") {
		t.Fatalf("keys list:\n%s", out)
	}

	run("", "--config", cfg, "keys", "retire", active)
	if out := list(); !strings.Contains(out, active+"  EdDSA  retired") || !strings.Contains(out, next+"  EdDSA  active") {
		t.Fatalf("keys list after retiring %s:\n%s", active, out)
	}
	run("", "keys", "revoke", next, "--config", cfg)
	out := list()
	if strings.Contains(out, next) || !strings.Contains(out, "  RS256  active") {
		t.Fatalf("keys list after revoking %s:\n%s", next, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if strings.HasPrefix(line, "-") && !strings.HasPrefix(line, active) {
			t.Errorf("a new kid starts with '-': %s", line)
		}
	}

	run("a-long-password\n", "users", "add", "-alice", "--config", cfg, "--password-stdin")
	run("", "users", "disable", "--config", cfg, "-alice")
	if out := run("", "users", "list", "--config", cfg); !strings.Contains(out, "-alice ") || !strings.Contains(out, "disabled") {
		t.Errorf("users list:\n%s", out)
	}
	run("", "sessions", "list", "--user", "-alice", "--config", cfg)
	run("", "sessions", "revoke", "--family", "-abc", "--config", cfg)
	// A mistyped flag of a command without such arguments is still one.
	if _, stderr, code := cli(t, dir, "", nil, "keys", "list", "--config", cfg, "-x"); code == 0 || !strings.Contains(stderr, "unknown shorthand flag") {
		t.Errorf("keys list -x: exit %d, %q", code, stderr)
	}
}
