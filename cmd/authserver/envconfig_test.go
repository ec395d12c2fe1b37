package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

// kekFile writes a key-encryption key the way a Kubernetes Secret or
// `openssl rand -base64 32 > kek` leaves it: with a trailing newline.
func kekFile(t *testing.T) (path, key string) {
	t.Helper()
	key = strings.Repeat("S0VL", 10) + "S0U="
	path = filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, key
}

// TestServeFromEnvironmentOnly runs `AUTHSERVER_STORE_DRIVER=redis
// authserver serve` as a new user would, with no file and no --dev: it
// serves from Redis, and there are no demo credentials anywhere.
func TestServeFromEnvironmentOnly(t *testing.T) {
	dir := t.TempDir()
	addr := redistest.SharedAddr(t)
	prefix := redistest.Prefix(t)
	redistest.CleanupPrefix(t, []string{addr}, prefix)
	kek, key := kekFile(t)
	env := []string{
		"AUTHSERVER_STORE_DRIVER=redis",
		"AUTHSERVER_STORE_REDIS_ADDRS=" + addr,
		"AUTHSERVER_STORE_REDIS_KEY_PREFIX=" + prefix,
		"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=" + kek,
	}
	s := startServer(t, dir, env)

	// The server created its signing key in Redis: the CLI, on the same
	// variables, finds it there.
	out, stderr, code := cli(t, dir, "", env, "keys", "list")
	if code != 0 || !strings.Contains(out, "active") || !strings.Contains(out, jwksDoc(t, s.base)) {
		t.Fatalf("keys list: %d %q %q", code, out, stderr)
	}
	resp, err := http.PostForm(s.base+"/oauth2/token", url.Values{
		"grant_type": {"password"}, "client_id": {demoClientID}, "username": {demoUser}, "password": {"x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token request with the demo client: %d, want 401 (no such client)", resp.StatusCode)
	}
	if out, _, _ := cli(t, dir, "", env, "users", "list"); strings.Contains(out, demoUser) {
		t.Errorf("users list shows a demo user:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("./data exists (%v): the embedded store was opened", err)
	}

	s.cmd.Process.Signal(syscall.SIGTERM)
	var printed []string
	for line := range s.out {
		printed = append(printed, line)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if len(printed) > 0 {
		t.Errorf("serve printed to stdout (demo credentials?):\n%s", strings.Join(printed, "\n"))
	}
	if cfg, _, _ := cli(t, dir, "", env, "config", "check"); strings.Contains(cfg, key) {
		t.Error("config check prints the key-encryption key")
	}
}

// Without --dev, the embedded store is the defaults' ./data, but no demo
// client or user is created there.
func TestNoDemoWithoutDev(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	s.cmd.Process.Signal(syscall.SIGTERM)
	for line := range s.out {
		t.Errorf("serve printed %q", line)
	}
	s.cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, "data", "demo-password")); !os.IsNotExist(err) {
		t.Errorf("demo password file exists: %v", err)
	}
	if out, _, code := cli(t, dir, "", nil, "users", "list"); code != 0 || strings.Contains(out, demoUser) {
		t.Errorf("users list: %d %q", code, out)
	}
}

// TestConfigEnvAndSecretSources: AUTHSERVER_CONFIG names the file, and
// config check says where each secret came from without printing it.
func TestConfigEnvAndSecretSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "authserver.yaml")
	os.WriteFile(file, []byte("tokens: {access_ttl: 7m}\n"), 0o600)
	kek, key := kekFile(t)
	env := []string{
		"AUTHSERVER_CONFIG=" + file,
		"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=" + kek,
		"AUTHSERVER_STORE_REDIS_PASSWORD=hunter2-hunter2",
	}
	out, stderr, code := cli(t, dir, "", env, "config", "check")
	if code != 0 {
		t.Fatalf("config check: %d %s", code, stderr)
	}
	for _, want := range []string{
		"access_ttl: 7m",
		"keys.encryption_key: file " + kek + " (AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE)",
		"store.redis.password: environment AUTHSERVER_STORE_REDIS_PASSWORD",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{key, "hunter2-hunter2"} {
		if strings.Contains(out+stderr, secret) {
			t.Errorf("config check prints a secret:\n%s", out)
		}
	}
	env = append(env, "AUTHSERVER_KEYS_ENCRYPTION_KEY="+key)
	if _, stderr, code := cli(t, dir, "", env, "config", "check"); code == 0 ||
		!strings.Contains(stderr, "keys.encryption_key_file") || strings.Contains(stderr, key) {
		t.Errorf("value and file both set: %d %q", code, stderr)
	}
}

func TestHealthcheck(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil, "--dev")
	port := s.base[strings.LastIndex(s.base, ":")+1:]
	for _, addr := range []string{"127.0.0.1:" + port, "0.0.0.0:" + port, ":" + port} {
		if _, stderr, code := cli(t, dir, "", []string{"AUTHSERVER_HTTP_ADDR=" + addr}, "healthcheck"); code != 0 {
			t.Errorf("healthcheck on %s: exit %d %q", addr, code, stderr)
		}
	}
	s.kill()
	if _, stderr, code := cli(t, dir, "", []string{"AUTHSERVER_HTTP_ADDR=0.0.0.0:" + port}, "healthcheck", "--timeout", "1s"); code != 1 || stderr == "" {
		t.Errorf("healthcheck of a stopped server: exit %d %q, want 1 and a reason", code, stderr)
	}
}

func TestHealthURL(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:8080":     "http://127.0.0.1:8080/healthz",
		":8080":            "http://127.0.0.1:8080/healthz",
		"[::]:8080":        "http://[::1]:8080/healthz",
		"10.1.2.3:80":      "http://10.1.2.3:80/healthz",
		"localhost:9000":   "http://localhost:9000/healthz",
		"[2001:db8::1]:80": "http://[2001:db8::1]:80/healthz",
	} {
		if got, err := healthURL(addr); err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	if _, err := healthURL("no-port"); err == nil {
		t.Error("healthURL accepted an address without a port")
	}
}
