package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
	"github.com/oauthkit/authserver/internal/testutil"
)

// redisEnv points a server or the CLI at the shared test Redis under a
// key prefix of its own, and writes a config with one public client.
func redisEnv(t *testing.T, dir string) (env []string, cfg string) {
	t.Helper()
	addr := redistest.SharedAddr(t)
	prefix := redistest.Prefix(t)
	redistest.CleanupPrefix(t, []string{addr}, prefix)
	cfg = filepath.Join(dir, "authserver.yaml")
	os.WriteFile(cfg, []byte(`clients:
  - id: app
    public: true
    grants: [password, refresh_token]
    scopes: [profile]
tokens: {refresh_reuse_grace: 2s}
`), 0o600)
	return []string{
		"AUTHSERVER_STORE_DRIVER=redis",
		"AUTHSERVER_STORE_REDIS_ADDRS=" + addr,
		"AUTHSERVER_STORE_REDIS_KEY_PREFIX=" + prefix,
		"AUTHSERVER_KEYS_ENCRYPTION_KEY=" + strings.Repeat("QUJD", 10) + "QUI=",
	}, cfg
}

func jwksDoc(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	kids := make([]string, len(doc.Keys))
	for i, k := range doc.Keys {
		kids[i] = k.Kid
	}
	return strings.Join(kids, ",")
}

// TestTwoReplicasOnRedis runs two servers on one Redis: they share users,
// sessions and keys, and a replay detected at one revokes the family
// rotated at the other.
func TestTwoReplicasOnRedis(t *testing.T) {
	dir := t.TempDir()
	env, cfg := redisEnv(t, dir)
	a := startServer(t, dir, env, "--config", cfg)
	b := startServer(t, dir, env, "--config", cfg)
	if _, stderr, code := cli(t, dir, "carol-password\n", env, "--config", cfg, "users", "add", "carol", "--password-stdin"); code != 0 {
		t.Fatalf("users add: %s", stderr)
	}
	if ja, jb := jwksDoc(t, a.base), jwksDoc(t, b.base); ja == "" || ja != jb {
		t.Fatalf("replicas publish different key sets: %q and %q", ja, jb)
	}

	resp, err := http.PostForm(a.base+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"carol"}, "password": {"carol-password"}})
	if err != nil {
		t.Fatal(err)
	}
	var login map[string]any
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login at A: %d %v", resp.StatusCode, login)
	}
	verifyWithJOSE(t, b.base, login["access_token"].(string)) // A's token verifies with B's JWKS
	rt0 := login["refresh_token"].(string)

	code, body := refresh(t, b.base, "app", rt0) // issued at A, refreshed at B
	if code != 200 {
		t.Fatalf("refresh at B: %d %v", code, body)
	}
	rt1 := body["refresh_token"].(string)
	if code, again := refresh(t, a.base, "app", rt0); code != 200 || again["refresh_token"] != rt1 {
		t.Fatalf("retry at A within the grace: %d, same successor %v", code, again["refresh_token"] == rt1)
	}

	// Past the 2s grace, the rotated token replayed at A revokes the
	// family, including the newest token that B handed out.
	// The grace is wall-clock time in two other processes: wait it out.
	testutil.Eventually(t, 10*time.Second, "the replay at A to be detected", func() bool {
		code, _ := refresh(t, a.base, "app", rt0)
		return code == 400
	})
	if code, _ := refresh(t, b.base, "app", rt1); code != 400 {
		t.Fatalf("newest token survived the replay: %d", code)
	}

	// A rotation made by the CLI reaches both replicas within 2 seconds.
	kid, stderr, code := cli(t, dir, "", env, "--config", cfg, "keys", "rotate")
	if code != 0 {
		t.Fatalf("keys rotate: %s", stderr)
	}
	kid = strings.TrimSpace(kid)
	for _, s := range []*server{a, b} {
		testutil.Eventually(t, 2*time.Second, s.base+" to publish the new key", func() bool {
			return strings.Contains(jwksDoc(t, s.base), kid)
		})
	}
}

// TestRedisOutage stops the server's Redis: token requests get 503 within
// the configured timeouts, /readyz fails, /healthz and the JWKS are still
// served from memory, and the server recovers by itself when Redis is back.
func TestRedisOutage(t *testing.T) {
	rs := redistest.StartServer(t, "--appendonly", "yes")
	dir := t.TempDir()
	_, cfg := redisEnv(t, dir)
	env := []string{
		"AUTHSERVER_STORE_DRIVER=redis",
		"AUTHSERVER_STORE_REDIS_ADDRS=" + rs.Addr,
		"AUTHSERVER_STORE_REDIS_DIAL_TIMEOUT=300ms",
		"AUTHSERVER_STORE_REDIS_READ_TIMEOUT=300ms",
		"AUTHSERVER_STORE_REDIS_WRITE_TIMEOUT=300ms",
		"AUTHSERVER_KEYS_ENCRYPTION_KEY=" + strings.Repeat("QUJD", 10) + "QUI=",
	}
	s := startServer(t, dir, env, "--config", cfg)
	cli(t, dir, "dave-password\n", env, "--config", cfg, "users", "add", "dave", "--password-stdin")
	get := func(path string) int {
		resp, err := http.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	login := func() (int, map[string]any, time.Duration) {
		start := time.Now()
		resp, err := http.PostForm(s.base+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"dave"}, "password": {"dave-password"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body, time.Since(start)
	}
	code, body, _ := login()
	if code != 200 {
		t.Fatalf("login: %d %v", code, body)
	}
	rt := body["refresh_token"].(string)

	rs.Stop()
	code, body, took := login()
	if code != 503 || body["error"] != "temporarily_unavailable" {
		t.Fatalf("login during the outage: %d %v", code, body)
	}
	if took > 5*time.Second { // a bound on blocking, not a speed figure
		t.Errorf("login during the outage took %v", took)
	}
	if code, body := refresh(t, s.base, "app", rt); code != 503 {
		t.Fatalf("refresh during the outage: %d %v", code, body)
	}
	if got := get("/readyz"); got != 503 {
		t.Errorf("/readyz during the outage = %d", got)
	}
	if get("/healthz") != 200 || get("/.well-known/jwks.json") != 200 {
		t.Error("/healthz or the JWKS is not served during the outage")
	}

	rs.Start()
	testutil.Eventually(t, 10*time.Second, "the server to recover when Redis is back", func() bool { return get("/readyz") == 200 })
	// Nothing was issued during the outage: the old token still rotates.
	if code, body := refresh(t, s.base, "app", rt); code != 200 {
		t.Fatalf("refresh after the outage: %d %v", code, body)
	}
}
