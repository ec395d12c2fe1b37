package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/clientsecret"
	"github.com/oauthkit/authserver/internal/testutil"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and
// unmounts it when t ends; it skips t when not root.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a size-limited tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file at path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return
		}
	}
}

// TestFullDisk puts the embedded database on a 4 MiB tmpfs and fills
// it: a refresh and a login get 503 with Retry-After (never another
// error), the JWKS and client_credentials keep working, and once space
// returns the service resumes by itself with every session intact; the
// file passes integrity_check.
func TestFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, 4<<20)
	dir := t.TempDir()
	secret, hash, err := clientsecret.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "authserver.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `clients:
  - id: app
    public: true
    grants: [password, refresh_token]
  - id: svc
    secret_hash: %q
    grants: [client_credentials]
`, hash), 0o600)
	db := filepath.Join(mnt, "authserver.db")
	env := []string{"AUTHSERVER_STORE_EMBEDDED_PATH=" + db}
	if _, stderr, code := cli(t, dir, "carol-password\n", env, "--config", cfg, "users", "add", "carol", "--password-stdin"); code != 0 {
		t.Fatalf("users add: %s", stderr)
	}
	srv := startServer(t, dir, env, "--config", cfg)
	login := url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"carol"}, "password": {"carol-password"}}
	code, _, body := postToken(t, srv.base, login)
	if code != 200 {
		t.Fatalf("login: %d %v", code, body)
	}
	last := body["refresh_token"].(string)
	refreshForm := func() url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "refresh_token": {last}}
	}

	fill(t, filepath.Join(mnt, "fill"))
	// SQLite reuses the WAL's pages once checkpointed, so a few writes may
	// still fit; a write that needs a page more must fail with 503.
	refused := false
	for i := 0; i < 500 && !refused; i++ {
		code, retryAfter, body := postToken(t, srv.base, refreshForm())
		switch {
		case code == 200:
			last = body["refresh_token"].(string)
		case code == http.StatusServiceUnavailable && body["error"] == "temporarily_unavailable" && retryAfter != "":
			refused = true
		default:
			t.Fatalf("refresh on a full disk: %d %v, Retry-After %q; want 200 or 503 with Retry-After", code, body, retryAfter)
		}
	}
	if !refused {
		t.Fatal("500 refreshes on a full disk all succeeded")
	}
	if code, retryAfter, body := postToken(t, srv.base, login); code != http.StatusServiceUnavailable || retryAfter == "" {
		t.Errorf("login on a full disk: %d %v, Retry-After %q; want 503 with Retry-After", code, body, retryAfter)
	}
	if doc := jwksDoc(t, srv.base); doc == "" {
		t.Error("JWKS on a full disk: no keys")
	}
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {secret}}
	if code, _, body := postToken(t, srv.base, cc); code != 200 {
		t.Errorf("client_credentials on a full disk: %d %v", code, body)
	}

	if err := os.Remove(filepath.Join(mnt, "fill")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "a refresh once space returned", func() bool {
		code, _, body := postToken(t, srv.base, refreshForm())
		if code == 200 {
			last = body["refresh_token"].(string)
		}
		return code == 200
	})
	if code, _, body := postToken(t, srv.base, login); code != 200 {
		t.Errorf("login once space returned: %d %v", code, body)
	}
	srv.kill()
	if v := integrityCheck(t, db); v != "ok" {
		t.Fatalf("integrity_check after a full disk: %s", v)
	}
}
