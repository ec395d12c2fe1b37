package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
	"github.com/oauthkit/authserver/internal/testutil"
)

// postToken posts form to the token endpoint and returns the status, the
// Retry-After header and the JSON body.
func postToken(t *testing.T, base string, form url.Values) (int, string, map[string]any) {
	t.Helper()
	code, h, body := testutil.PostToken(t, base, form)
	return code, h.Get("Retry-After"), body
}

// TestMinReplicasPausedReplica runs a server with store.redis.min_replicas
// 1 on a master whose only replica is then paused (SIGSTOP): a refresh
// and a login get 503 temporarily_unavailable with Retry-After, never a
// success; once the replica is back, the refresh retried within the grace
// gets the successor the refused rotation stored, every time.
func TestMinReplicasPausedReplica(t *testing.T) {
	master := redistest.StartServer(t)
	replica := redistest.StartReplica(t, master)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "authserver.yaml")
	os.WriteFile(cfg, []byte(`clients:
  - id: app
    public: true
    grants: [password, refresh_token]
    scopes: [profile]
tokens: {refresh_reuse_grace: 30s}
`), 0o600)
	env := []string{
		"AUTHSERVER_STORE_DRIVER=redis",
		"AUTHSERVER_STORE_REDIS_ADDRS=" + master.Addr,
		"AUTHSERVER_STORE_REDIS_MIN_REPLICAS=1",
		"AUTHSERVER_STORE_REDIS_REPLICA_TIMEOUT=1s", // generous: a loaded machine acknowledges slowly
		"AUTHSERVER_KEYS_ENCRYPTION_KEY=" + strings.Repeat("QUJD", 10) + "QUI=",
	}
	srv := startServer(t, dir, env, "--config", cfg)
	if _, stderr, code := cli(t, dir, "carol-password\n", env, "--config", cfg, "users", "add", "carol", "--password-stdin"); code != 0 {
		t.Fatalf("users add: %s", stderr)
	}
	login := url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"carol"}, "password": {"carol-password"}}
	code, _, body := postToken(t, srv.base, login)
	if code != 200 {
		t.Fatalf("login: %d %v", code, body)
	}
	r0, _ := body["refresh_token"].(string)
	refreshForm := url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "refresh_token": {r0}}

	replica.Pause()
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			replica.Resume()
		}
	})
	for _, c := range []struct {
		name string
		form url.Values
	}{{"refresh", refreshForm}, {"refresh-retried", refreshForm}, {"login", login}} {
		code, retryAfter, body := postToken(t, srv.base, c.form)
		if code != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || retryAfter == "" {
			t.Errorf("%s with the replica paused: %d %v, Retry-After %q; want 503 temporarily_unavailable with Retry-After",
				c.name, code, body, retryAfter)
		}
	}

	replica.Resume()
	resumed = true
	var successor string
	for i := range 2 {
		code, _, body := postToken(t, srv.base, refreshForm)
		if code != 200 {
			t.Fatalf("refresh retried with the replica back (%d): %d %v", i, code, body)
		}
		got, _ := body["refresh_token"].(string)
		if i == 1 && got != successor {
			t.Fatalf("refresh retried twice: successors %q and %q differ", successor, got)
		}
		successor = got
		verifyWithJOSE(t, srv.base, body["access_token"].(string))
	}
	code, _, body = postToken(t, srv.base, url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "refresh_token": {successor}})
	if code != 200 {
		t.Fatalf("refresh of the successor: %d %v", code, body)
	}
}
