package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
)

// The tests run the real command as a child process: the test binary
// re-executes itself as authserver when this variable is set.
const childEnv = "AUTHSERVER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Args = append([]string{"authserver"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// cli runs authserver with args in dir and returns stdout, stderr and the
// exit code.
func cli(t *testing.T, dir, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// server is a running `authserver serve`.
type server struct {
	cmd  *exec.Cmd
	base string
	out  chan string // stdout lines
	log  string      // the file of its stderr
	// admin is the URL of its admin listener, when the test gave it one.
	admin string
}

// startServer runs `authserver serve args...` in dir and waits for it to
// answer /readyz.
func startServer(t *testing.T, dir string, env []string, args ...string) *server {
	t.Helper()
	addr := testutil.FreeAddr(t)
	base := "http://" + addr
	cmd := exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), childEnv+"=1", "AUTHSERVER_HTTP_ADDR="+addr, "AUTHSERVER_ISSUER="+base), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, base: base, out: make(chan string, 100), log: logf.Name()}
	t.Cleanup(func() { s.kill() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.out <- sc.Text()
		}
		close(s.out)
	}()
	var lastErr error
	ready := testutil.WaitFor(30*time.Second, func() bool {
		resp, err := http.Get(base + "/readyz")
		if lastErr = err; err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if !ready {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("server did not become ready: %v\n%s", lastErr, log)
	}
	return s
}

// kill ends the server the hard way: nothing gets a chance to flush.
func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		s.cmd.Wait()
	}
}

// curlLine waits for the printed curl command.
func (s *server) curlLine(t *testing.T) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-s.out:
			if !ok {
				t.Fatal("server printed no curl line")
			}
			if strings.HasPrefix(strings.TrimSpace(line), "curl ") {
				return strings.TrimSpace(line)
			}
		case <-timeout:
			t.Fatal("server printed no curl line")
		}
	}
}

// runCurl performs what a printed `curl -s URL -d k=v ...` line does.
func runCurl(t *testing.T, line string) map[string]any {
	t.Helper()
	fields := strings.Fields(line)
	var target string
	form := url.Values{}
	for i := 1; i < len(fields); i++ {
		switch {
		case fields[i] == "-s":
		case fields[i] == "-d" && i+1 < len(fields):
			k, v, _ := strings.Cut(fields[i+1], "=")
			form.Add(k, v)
			i++
		default:
			target = fields[i]
		}
	}
	resp, err := http.PostForm(target, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 {
		t.Fatalf("printed curl: %d %v", resp.StatusCode, body)
	}
	return body
}

// verifyWithJOSE checks an access token against the JWKS served at base
// with go-jose, not the jwx that signed it, and returns its kid and claims.
func verifyWithJOSE(t *testing.T, base, token string) (kid string, claims map[string]any) {
	t.Helper()
	h, claims := testutil.VerifyWithJOSE(t, base+"/.well-known/jwks.json", token)
	return h.KeyID, claims
}

func refresh(t *testing.T, base, clientID, token string) (int, map[string]any) {
	t.Helper()
	code, _, body := testutil.PostToken(t, base, url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {token}})
	return code, body
}

// TestQuickStart is the README's first command as a new user meets it:
// the printed curl returns a token that go-jose verifies against the
// JWKS; the refresh token and the signing key then survive a killed
// process.
func TestQuickStart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil, "--dev")
	body := runCurl(t, s.curlLine(t))
	kid, claims := verifyWithJOSE(t, s.base, body["access_token"].(string))
	if claims["iss"] != s.base || claims["client_id"] != "demo-app" || claims["name"] != "Demo User" {
		t.Errorf("claims = %v", claims)
	}
	code, body := refresh(t, s.base, "demo-app", body["refresh_token"].(string))
	if code != 200 {
		t.Fatalf("refresh: %d %v", code, body)
	}
	rt := body["refresh_token"].(string)

	s.kill()
	s = startServer(t, dir, nil, "--dev")
	code, body = refresh(t, s.base, "demo-app", rt)
	if code != 200 {
		t.Fatalf("refresh after a killed process: %d %v", code, body)
	}
	if kid2, _ := verifyWithJOSE(t, s.base, body["access_token"].(string)); kid2 != kid {
		t.Errorf("signing key changed across restart: %s -> %s", kid, kid2)
	}
	// The demo credentials are printed again, and still work.
	runCurl(t, s.curlLine(t))
}

// TestCLIAgainstRunningServer changes users and keys from the CLI while a
// server runs on the same store: each change takes effect at once (users)
// or within two seconds (keys).
func TestCLIAgainstRunningServer(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "authserver.yaml")
	os.WriteFile(cfg, []byte(`store:
  embedded: {path: `+filepath.Join(dir, "data", "a.db")+`}
tokens: {refresh_reuse_grace: 0s}
clients:
  - id: app
    public: true
    grants: [password, refresh_token]
    scopes: [profile]
`), 0o600)
	admin := testutil.FreeAddr(t)
	env := []string{"AUTHSERVER_HTTP_ADMIN_ADDR=" + admin}
	s := startServer(t, dir, env, "--config", cfg)

	id, stderr, code := cli(t, dir, "s3cret-password\n", env, "--config", cfg, "users", "add", "bob", "--password-stdin", "--claim", "team=blue")
	if code != 0 || !regexp.MustCompile(`^u_[A-Za-z0-9_-]{22}\n$`).MatchString(id) {
		t.Fatalf("users add: %q %q %d", id, stderr, code)
	}
	login := func(pw string) (int, map[string]any) {
		resp, err := http.PostForm(s.base+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"bob"}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b map[string]any
		json.NewDecoder(resp.Body).Decode(&b)
		return resp.StatusCode, b
	}
	code, tok := login("s3cret-password")
	if code != 200 {
		t.Fatalf("login: %d %v", code, tok)
	}
	kid, claims := verifyWithJOSE(t, s.base, tok["access_token"].(string))
	if claims["sub"] != strings.TrimSpace(id) || claims["team"] != "blue" {
		t.Errorf("claims = %v", claims)
	}

	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `authserver_tokens_issued_total{client_id="app",grant="password"} 1`) {
		t.Errorf("/metrics on the admin listener lacks the login:\n%.500s", metrics)
	}

	out, _, code := cli(t, dir, "", env, "--config", cfg, "sessions", "list", "--user", "bob")
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("sessions list: %d %q", code, out)
	}
	if _, stderr, code := cli(t, dir, "", env, "--config", cfg, "users", "disable", "bob"); code != 0 || !strings.Contains(stderr, "1 session(s) revoked") {
		t.Fatalf("users disable: %d %s", code, stderr)
	}
	if code, _ := refresh(t, s.base, "app", tok["refresh_token"].(string)); code != 400 {
		t.Errorf("refresh after disable: %d", code)
	}
	if code, _ := login("s3cret-password"); code != 400 {
		t.Errorf("login after disable: %d", code)
	}
	cli(t, dir, "", env, "--config", cfg, "users", "enable", "bob")
	if code, _ := login("s3cret-password"); code != 200 {
		t.Errorf("login after enable: %d", code)
	}

	newKid, stderr, code := cli(t, dir, "", env, "--config", cfg, "keys", "rotate", "--now")
	newKid = strings.TrimSpace(newKid)
	if code != 0 || newKid == "" || newKid == kid {
		t.Fatalf("keys rotate --now: %q %s %d", newKid, stderr, code)
	}
	if !strings.Contains(stderr, `"event":"key_rotated"`) {
		t.Errorf("no audit line for the rotation: %s", stderr)
	}
	testutil.Eventually(t, 2*time.Second, "the running server to sign with the rotated key", func() bool {
		_, tok := login("s3cret-password")
		got, _ := verifyWithJOSE(t, s.base, tok["access_token"].(string))
		return got == newKid
	})
	out, _, _ = cli(t, dir, "", env, "--config", cfg, "keys", "list")
	if !strings.Contains(out, newKid+"  RS256  active") || !strings.Contains(out, kid+"  RS256  retired") {
		t.Errorf("keys list:\n%s", out)
	}
}

func TestCLIErrorsAndHelpers(t *testing.T) {
	dir := t.TempDir()
	out, _, code := cli(t, dir, "", nil, "clients", "new-secret")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || len(lines[0]) < 43 || !strings.HasPrefix(lines[1], "sha256:") {
		t.Fatalf("clients new-secret: %d %q", code, out)
	}
	hash, _, code := cli(t, dir, lines[0]+"\n", nil, "clients", "hash-secret")
	if code != 0 || strings.TrimSpace(hash) != lines[1] {
		t.Errorf("hash-secret of the new secret = %q, want %q", hash, lines[1])
	}
	if _, stderr, code := cli(t, dir, "short\n", nil, "clients", "hash-secret"); code == 0 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("hash-secret of a short secret: %d %q", code, stderr)
	}
	cfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(cfg, []byte("issuer: not-a-url\nkeys: {rsa_bits: 1024}\n"), 0o600)
	if _, stderr, code := cli(t, dir, "", nil, "--config", cfg, "config", "check"); code == 0 || !strings.Contains(stderr, "issuer") || !strings.Contains(stderr, "keys.rsa_bits") {
		t.Errorf("config check of a bad file: %d %q", code, stderr)
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("keys: {encryption_key: "+strings.Repeat("A", 43)+"=}\nstore: {embedded: {path: "+filepath.Join(dir, "d", "a.db")+"}}\n"), 0o600)
	out, stderr, code := cli(t, dir, "", []string{"AUTHSERVER_STORE_REDIS_PASSWORD=hunter2-hunter2"}, "--config", good, "config", "check")
	if code != 0 || strings.Contains(out, "hunter2") || strings.Contains(out, strings.Repeat("A", 43)) || !strings.Contains(out, "REDACTED") {
		t.Errorf("config check leaks a secret or fails: %d %s %s", code, out, stderr)
	}
	for _, args := range [][]string{
		{"--config", good, "users", "passwd", "nobody", "--password-stdin"},
		{"--config", good, "users", "delete", "nobody"},
		{"--config", good, "keys", "revoke", "no-such-kid"},
		{"--config", filepath.Join(dir, "missing.yaml"), "users", "list"},
	} {
		_, stderr, code := cli(t, dir, "a-long-password\n", nil, args...)
		if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "authserver: ") {
			t.Errorf("%v: exit %d, stderr %q; want non-zero and one line", args, code, stderr)
		}
	}
	if out, _, code := cli(t, dir, "", nil, "version"); code != 0 || !strings.HasPrefix(out, "authserver ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// TestAdminListener serves /metrics and pprof on http.admin_addr only:
// never on the public listener, and without an admin listener not at all
// (metrics name clients and count their tokens).
func TestAdminListener(t *testing.T) {
	get := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("with-admin-addr", func(t *testing.T) {
		admin := "http://" + testutil.FreeAddr(t)
		s := startServer(t, t.TempDir(), []string{"AUTHSERVER_HTTP_ADMIN_ADDR=" + strings.TrimPrefix(admin, "http://")}, "--dev")
		for url, want := range map[string]int{
			admin + "/metrics":       200,
			admin + "/debug/pprof/":  200,
			s.base + "/metrics":      404,
			s.base + "/debug/pprof/": 404,
		} {
			if got := get(url); got != want {
				t.Errorf("GET %s = %d, want %d", url, got, want)
			}
		}
	})
	t.Run("without-admin-addr", func(t *testing.T) {
		s := startServer(t, t.TempDir(), nil, "--dev")
		for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline"} {
			if got := get(s.base + path); got != 404 {
				t.Errorf("GET %s on the public listener = %d, want 404", path, got)
			}
		}
		if got := get(s.base + "/healthz"); got != 200 {
			t.Errorf("GET /healthz = %d: the server is not serving", got)
		}
	})
	t.Run("config-check", func(t *testing.T) {
		dir := t.TempDir()
		_, stderr, code := cli(t, dir, "", nil, "config", "check")
		if code != 0 || !strings.Contains(stderr, "metrics: not served (http.admin_addr is empty)") {
			t.Errorf("config check without admin_addr: %d %q", code, stderr)
		}
		_, stderr, code = cli(t, dir, "", []string{"AUTHSERVER_HTTP_ADMIN_ADDR=127.0.0.1:9100"}, "config", "check")
		if code != 0 || !strings.Contains(stderr, "metrics: /metrics and /debug/pprof/ on http.admin_addr 127.0.0.1:9100") {
			t.Errorf("config check with admin_addr: %d %q", code, stderr)
		}
	})
}

// TestGracefulShutdown sends SIGTERM: the server stops serving and exits 0.
func TestGracefulShutdown(t *testing.T) {
	s := startServer(t, t.TempDir(), nil, "--dev")
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if _, err := http.Get(s.base + "/healthz"); err == nil {
		t.Error("still serving after SIGTERM")
	}
}
