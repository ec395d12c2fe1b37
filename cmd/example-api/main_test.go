package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/verify"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestParseConfig(t *testing.T) {
	env := map[string]string{
		"EXAMPLE_API_ISSUER":   "https://auth.example",
		"EXAMPLE_API_AUDIENCE": "orders-api",
		"EXAMPLE_API_ADDR":     ":9100",
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr bool
	}{
		{"defaults", nil, nil, config{defaultIssuer, defaultAudience, defaultAddr, nil}, false},
		{"environment", nil, env, config{"https://auth.example", "orders-api", ":9100", nil}, false},
		{"flags-over-environment", []string{"-issuer", "http://127.0.0.1:18080", "-audience", "billing-api", "-addr", "127.0.0.1:0"}, env,
			config{"http://127.0.0.1:18080", "billing-api", "127.0.0.1:0", nil}, false},
		{"allow-origins", []string{"-allow-origins", "https://a.example, http://127.0.0.1:3000"}, nil,
			config{defaultIssuer, defaultAudience, defaultAddr, []string{"https://a.example", "http://127.0.0.1:3000"}}, false},
		{"unknown-flag", []string{"-port", "9000"}, nil, config{}, true},
		{"stray-argument", []string{"serve"}, nil, config{}, true},
		{"empty-audience", []string{"-audience", ""}, nil, config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseConfig error = %v, want error: %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := parseConfig([]string{"-h"}, func(string) string { return "" }, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestRunWithoutIssuer(t *testing.T) {
	addr := testutil.FreeAddr(t) // nothing listens there
	err := run(context.Background(), config{issuer: "http://" + addr, audience: "api", addr: "127.0.0.1:0"}, quiet)
	if err == nil || !strings.Contains(err.Error(), "is authserver running at http://"+addr) {
		t.Fatalf("run = %v, want an error naming the issuer", err)
	}
}

// TestAgainstAuthserver runs the API against a real `authserver serve
// --dev`, built from this module, with a token of its demo client.
func TestAgainstAuthserver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs authserver")
	}
	as := startAuthserver(t)
	token := as.demoToken(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := verify.New(ctx, as.issuer, verify.WithAudience("api"), verify.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, newHandler(v), quiet) }()
	api := "http://" + ln.Addr().String()

	tests := []struct {
		name      string
		path      string
		auth      string // Authorization header
		status    int
		challenge string // WWW-Authenticate
	}{
		{"healthz", "/healthz", "", http.StatusOK, ""},
		{"orders-with-token", "/orders", "Bearer " + token, http.StatusOK, ""},
		{"orders-without-token", "/orders", "", http.StatusUnauthorized, `Bearer realm="api"`},
		{"orders-with-tampered-token", "/orders", "Bearer " + tamper(t, token), http.StatusUnauthorized,
			`Bearer realm="api", error="invalid_token", error_description="the access token is invalid"`},
		{"orders-with-basic-auth", "/orders", "Basic ZGVtbzpkZW1v", http.StatusUnauthorized, `Bearer realm="api"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, api+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if tt.path != "/orders" || tt.status != http.StatusOK {
				return
			}
			var got ordersResponse
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			want := ordersResponse{Subject: as.demoID(t), ClientID: "demo-app", Scopes: []string{"profile", "orders:read"}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body (-got +want):\n-%+v\n+%+v", got, want)
			}
		})
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve after cancel: %v", err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("serve did not return after cancel")
	}
	if _, err := http.Get(api + "/healthz"); err == nil {
		t.Error("API still answers after shutdown")
	}
}

// tamper returns token with its payload replaced by one claiming another
// subject, keeping the original header and signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = "someone-else"
	forged, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
}

// authserverProc is a running `authserver serve --dev`.
type authserverProc struct {
	issuer string
	bin    string                 // the built binary
	dir    string                 // its working directory, holding ./data
	out    *testutil.LockedBuffer // its stdout
}

// startAuthserver builds cmd/authserver, runs `authserver serve --dev` in
// a temporary directory on a free port and waits until it is ready. The
// process is killed when the test ends.
func startAuthserver(t *testing.T) *authserverProc {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build authserver with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "authserver")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/oauthkit/authserver/cmd/authserver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build authserver: %v\n%s", err, out)
	}

	addr := testutil.FreeAddr(t)
	p := &authserverProc{issuer: "http://" + addr, bin: bin, dir: dir, out: &testutil.LockedBuffer{}}
	var logs testutil.LockedBuffer
	cmd := exec.Command(bin, "serve", "--dev")
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "AUTHSERVER_HTTP_ADDR="+addr, "AUTHSERVER_ISSUER="+p.issuer)
	cmd.Stdout, cmd.Stderr = p.out, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	var lastErr error
	died := false
	ready := testutil.WaitFor(30*time.Second, func() bool {
		select {
		case <-exited:
			died = true
			return true
		default:
		}
		resp, err := http.Get(p.issuer + "/readyz")
		if lastErr = err; err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if died {
		t.Fatalf("authserver exited: %v\n%s", cmd.ProcessState, logs.String())
	}
	if !ready {
		t.Fatalf("authserver not ready after 30s: %v\n%s", lastErr, logs.String())
	}
	return p
}

var demoUserLine = regexp.MustCompile(`(?m)^\s*demo user:\s+(\S+) / (\S+)\s*$`)

// demoToken logs the printed demo user in through the demo client and
// returns the access token.
func (p *authserverProc) demoToken(t *testing.T) string {
	t.Helper()
	// The credentials are printed before the server listens, but reach
	// the buffer through a pipe: wait for them.
	var m []string
	if !testutil.WaitFor(10*time.Second, func() bool { m = demoUserLine.FindStringSubmatch(p.out.String()); return m != nil }) {
		t.Fatalf("no demo user line in the output:\n%s", p.out.String())
	}
	resp, err := http.PostForm(p.issuer+"/oauth2/token", url.Values{
		"grant_type": {"password"}, "client_id": {"demo-app"}, "username": {m[1]}, "password": {m[2]},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("demo login: status %d, %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

// demoID returns the demo user's id, the sub of its tokens, as
// `authserver users list` prints it.
func (p *authserverProc) demoID(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(p.bin, "users", "list")
	cmd.Dir = p.dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("users list: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "demo" {
			return f[1]
		}
	}
	t.Fatalf("no demo user in users list:\n%s", out)
	return ""
}
