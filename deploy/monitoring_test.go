package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/oauthkit/authserver/internal/testutil"
)

const (
	rulesFile     = "prometheus/authserver-rules.yml"
	dashboardFile = "grafana/authserver-dashboard.json"
)

// TestPrometheusRules checks the rules file and runs its unit tests with
// promtool (Debian package prometheus).
func TestPrometheusRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed (Debian package prometheus; .ci/run installs it)")
	}
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(rulesFile)},
		{"test", "rules", "authserver-rules.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(rulesFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestMetricNames checks every metric of the alert rules and the dashboard,
// with the label names and values they select, against what a real server
// exports on its admin listener after one request of each kind, a
// lockout, a refresh-token reuse and a store outage.
func TestMetricNames(t *testing.T) {
	exprs := append(ruleExprs(t), dashboardExprs(t)...)
	series := scrapeAfterTraffic(t)

	metric := regexp.MustCompile(`\b((?:authserver|process|go)_[a-zA-Z0-9_]+)\b(\{[^}]*\})?`)
	matcher := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	grouping := regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	used := map[string]bool{}
	for _, e := range exprs {
		var names []string
		for _, m := range metric.FindAllStringSubmatch(e, -1) {
			name := m[1]
			names = append(names, name)
			used[name] = true
			samples, ok := series[name]
			if !ok {
				t.Errorf("%s: /metrics exports no %s", e, name)
				continue
			}
			for _, lm := range matcher.FindAllStringSubmatch(m[2], -1) {
				label, op, value := lm[1], lm[2], lm[3]
				if label == "job" || label == "instance" {
					continue // target labels, added by Prometheus
				}
				if !anySample(samples, func(l map[string]string) bool { _, ok := l[label]; return ok }) {
					t.Errorf("%s: %s has no label %s", e, name, label)
				} else if op == "=" && !anySample(samples, func(l map[string]string) bool { return l[label] == value }) {
					t.Errorf("%s: no %s{%s=%q} was exported", e, name, label, value)
				}
			}
		}
		for _, g := range grouping.FindAllStringSubmatch(e, -1) {
			for _, label := range strings.Split(g[1], ",") {
				label = strings.TrimSpace(label)
				if label == "" || label == "job" || label == "instance" {
					continue
				}
				found := false
				for _, name := range names {
					found = found || anySample(series[name], func(l map[string]string) bool { _, ok := l[label]; return ok })
				}
				if !found {
					t.Errorf("%s: groups by %s, which none of %v has", e, label, names)
				}
			}
		}
	}
	// The dashboard covers what issue 11 asks of it.
	for _, name := range []string{
		"authserver_tokens_issued_total", "authserver_refresh_reuse_detected_total",
		"authserver_http_request_duration_seconds_bucket", "authserver_store_errors_total",
		"authserver_login_lockouts_total", "authserver_signing_key_age_seconds",
	} {
		if !used[name] {
			t.Errorf("neither the rules nor the dashboard use %s", name)
		}
	}
}

func anySample(samples []map[string]string, f func(map[string]string) bool) bool {
	for _, l := range samples {
		if f(l) {
			return true
		}
	}
	return false
}

func ruleExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Expr string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr)
		}
	}
	if len(out) == 0 {
		t.Fatal("no rules")
	}
	return out
}

// dashboardExprs returns every PromQL expression of the dashboard: the
// panels' targets and the template variables' queries.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d any
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(k, e)
			}
		case []any:
			for _, e := range v {
				walk(key, e)
			}
		case string:
			if key == "expr" || key == "query" || key == "definition" {
				out = append(out, v)
			}
		}
	}
	walk("", d)
	if len(out) < 10 {
		t.Fatalf("%s: only %d expressions", dashboardFile, len(out))
	}
	return out
}

// scrapeAfterTraffic runs a server on a Redis of its own, drives every
// kind of request through it (so that the labelled series exist), stops
// that Redis to cause store errors and a 503, and returns the series of
// the admin listener's /metrics by name.
func scrapeAfterTraffic(t *testing.T) map[string][]map[string]string {
	t.Helper()
	redisAddr := startRedis(t)
	dir := t.TempDir()
	out, err := exec.Command(authserverBinary(t), "clients", "new-secret").Output()
	if err != nil {
		t.Fatalf("clients new-secret: %v", err)
	}
	secret, hash, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	cfg := fmt.Sprintf(`issuer: http://127.0.0.1
tokens: {refresh_reuse_grace: 0s}
passwords:
  lockout: {max_failures: 2, window: 1m}
  argon2: {memory: 8192, iterations: 1, parallelism: 1}
clients:
  - {id: worker, secret_hash: %q, grants: [client_credentials], scopes: [billing]}
  - {id: app, public: true, grants: [password, refresh_token], scopes: [profile]}
`, hash)
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	kek, _ := secretFiles(t, dir)
	env := map[string]string{
		"AUTHSERVER_CONFIG":                   cfgFile,
		"AUTHSERVER_STORE_DRIVER":             "redis",
		"AUTHSERVER_STORE_REDIS_ADDRS":        redisAddr,
		"AUTHSERVER_STORE_REDIS_DIAL_TIMEOUT": "200ms",
		"AUTHSERVER_STORE_REDIS_READ_TIMEOUT": "200ms",
		"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE": kek,
	}
	const password = "correct horse battery staple"
	add := exec.Command(authserverBinary(t), "users", "add", "alice", "--password-stdin")
	add.Env = environ(env)
	add.Stdin = strings.NewReader(password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	srv := startServer(t, env)

	token := func(want int, form url.Values, basic ...string) map[string]any {
		t.Helper()
		code, _, body := testutil.PostToken(t, srv.base, form, basic...)
		if code != want {
			t.Fatalf("token %v: %d %v, want %d", form, code, body, want)
		}
		return body
	}
	login := url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"alice"}, "password": {password}}
	token(200, url.Values{"grant_type": {"client_credentials"}}, "worker", secret)
	first := token(200, login)["refresh_token"].(string)
	refresh := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "refresh_token": {rt}}
	}
	token(200, refresh(first))
	token(400, refresh(first)) // reuse: the family is revoked
	wrong := url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"bob"}, "password": {"wrong"}}
	token(400, wrong)
	token(400, wrong)
	token(429, wrong)
	get(t, srv.base+"/.well-known/jwks.json", "keys")
	get(t, srv.base+"/.well-known/oauth-authorization-server", "token_endpoint")
	for _, path := range []string{"/oauth2/revoke", "/oauth2/introspect"} {
		resp, err := http.PostForm(srv.base+path, url.Values{"token": {"x"}, "client_id": {"app"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	stopRedis(t)
	token(503, login)

	resp, err := http.Get(srv.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s/metrics: %s", srv.admin, resp.Status)
	}
	return parseExposition(t, resp.Body)
}

// parseExposition reads the Prometheus text format: sample name to the
// label sets of its samples.
func parseExposition(t *testing.T, r io.Reader) map[string][]map[string]string {
	t.Helper()
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	out := map[string][]map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		labels := map[string]string{}
		if i := strings.IndexByte(line, '{'); i >= 0 && i == len(name) {
			for _, m := range label.FindAllStringSubmatch(line[i:strings.LastIndexByte(line, '}')], -1) {
				labels[m[1]] = m[2]
			}
		}
		out[name] = append(out[name], labels)
	}
	if len(out) == 0 {
		t.Fatal("/metrics is empty")
	}
	return out
}

var redisProcess *exec.Cmd

// startRedis runs a redis-server of the test's own, which it can stop.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (Debian package redis-server; .ci/run installs it)")
	}
	addr := testutil.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	redisProcess = cmd
	t.Cleanup(func() { stopRedis(t) })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopRedis(t *testing.T) {
	if redisProcess == nil {
		return
	}
	redisProcess.Process.Kill()
	redisProcess.Wait()
	redisProcess = nil
}
