package authserver_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/internal/testutil"

	"github.com/oauthkit/authserver/authserver"
)

// lineBreakToken has the length of a refresh token, but base64 skips the
// line breaks, so it decodes to three bytes: the parser indexed past them
// and panicked before checking any MAC.
var lineBreakToken = "AQAA" + strings.Repeat("\n", 88)

// TestRefreshTokenWithLineBreaks sends tokens with line breaks to the
// three endpoints that parse refresh tokens: each answers as for any
// token it did not issue.
func TestRefreshTokenWithLineBreaks(t *testing.T) {
	e := newEnv(t, nil)
	valid := e.login(t).str("refresh_token")
	tokens := map[string]string{
		"crafted":               lineBreakToken,
		"crlf":                  "AQAA" + strings.Repeat("\r\n", 44),
		"valid-with-line-break": valid[:45] + "\n" + valid[46:],
	}
	for name, tok := range tokens {
		t.Run(name, func(t *testing.T) {
			if r := e.refresh(t, tok); r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
				t.Errorf("token endpoint: %d %s, want 400 invalid_grant", r.status, r.raw)
			}
			if r := e.post(t, "/oauth2/revoke", form("token", tok), "web:"+webSecret); r.status != http.StatusOK {
				t.Errorf("revocation endpoint: %d %s, want 200", r.status, r.raw)
			}
			if r := e.post(t, "/oauth2/introspect", form("token", tok), "svc:"+svcSecret); r.status != http.StatusOK || r.raw != `{"active":false}`+"\n" {
				t.Errorf("introspection endpoint: %d %q, want 200 inactive", r.status, r.raw)
			}
		})
	}
	if r := e.refresh(t, valid); r.status != http.StatusOK {
		t.Fatalf("the family did not survive the mangled tokens: %d %s", r.status, r.raw)
	}
}

// TestPanicIsOne500 makes a store call panic inside the token endpoint:
// the client gets a 500 server_error in the RFC 6749 shape instead of a
// dropped connection, the log gets exactly one error line naming the
// route and the panic and holding nothing of the request body, and the
// server goes on serving.
func TestPanicIsOne500(t *testing.T) {
	var logs testutil.LockedBuffer
	fs := &faultStore{}
	e := newEnv(t, func(o *authserver.Options) {
		fs.Store = o.Store
		o.Store = fs
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	fs.set("GetUser", errPanic)
	r := e.tryLogin(t)
	if r.status != http.StatusInternalServerError || r.str("error") != "server_error" || r.str("error_description") == "" {
		t.Fatalf("panicking handler: %d %s, want 500 server_error", r.status, r.raw)
	}
	if r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v", r.header)
	}
	var errorLines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if rec["level"] == "ERROR" {
			errorLines = append(errorLines, rec)
		}
	}
	if len(errorLines) != 1 {
		t.Fatalf("%d error lines, want 1:\n%s", len(errorLines), logs.String())
	}
	if rec := errorLines[0]; rec["route"] != "/oauth2/token" || !strings.Contains(rec["panic"].(string), "injected panic in GetUser") {
		t.Errorf("panic log line = %v, want the route and the panic value", rec)
	}
	if strings.Contains(logs.String(), alicePass) || strings.Contains(logs.String(), "goroutine ") {
		t.Error("the log holds the request body or a stack trace")
	}
	fs.set("GetUser", nil)
	e.login(t)
}

// tryLogin is a login that is expected to fail.
func (e *env) tryLogin(t *testing.T) response {
	t.Helper()
	return e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass), "")
}

// halfJWKSSigner starts the JWKS response, then panics.
type halfJWKSSigner struct{ authserver.Signer }

func (halfJWKSSigner) ServeJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`{"keys":[`))
	http.NewResponseController(w).Flush()
	panic("injected panic after the response started")
}

// TestPanicAfterResponseStarted: a handler that panics once its answer
// has started cannot be answered 500; the response is aborted, so the
// client sees a broken body rather than a truncated one that looks whole,
// and the log still gets its one line.
func TestPanicAfterResponseStarted(t *testing.T) {
	var logs testutil.LockedBuffer
	e := newEnv(t, func(o *authserver.Options) {
		o.Signer = halfJWKSSigner{o.Signer}
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	resp, err := e.http.Client().Get(e.http.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("the truncated JWKS body read as complete")
	}
	if n := strings.Count(logs.String(), `"msg":"panic in handler"`); n != 1 || !strings.Contains(logs.String(), `"route":"GET /.well-known/jwks.json"`) {
		t.Fatalf("%d panic lines, want 1 naming the route:\n%s", n, logs.String())
	}
	e.login(t) // the server goes on serving
}
