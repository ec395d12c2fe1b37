package authserver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/internal/testutil"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/store"
)

// TestStoreErrors fails each store call of the request path in turn:
// store.ErrUnavailable is 503 temporarily_unavailable with Retry-After,
// any other error is 500 server_error with one error log line, and
// neither issues a token.
func TestStoreErrors(t *testing.T) {
	var logs testutil.LockedBuffer
	fs := &faultStore{}
	e := newEnv(t, func(o *authserver.Options) {
		fs.Store = o.Store
		o.Store = fs
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	login := e.post(t, "/oauth2/token", form("grant_type", "password", "username", "alice", "password", alicePass), "web:"+webSecret)
	at, rt := login.str("access_token"), login.str("refresh_token")
	requests := map[string]func() response{
		"password": func() response {
			return e.post(t, "/oauth2/token", form("grant_type", "password", "username", "alice", "password", alicePass), "web:"+webSecret)
		},
		"wrong-password": func() response {
			return e.post(t, "/oauth2/token", form("grant_type", "password", "username", "alice", "password", "wrong-password"), "web:"+webSecret)
		},
		"refresh": func() response {
			return e.post(t, "/oauth2/token", form("grant_type", "refresh_token", "refresh_token", rt), "web:"+webSecret)
		},
		"revoke-refresh":     func() response { return e.post(t, "/oauth2/revoke", form("token", rt), "web:"+webSecret) },
		"revoke-access":      func() response { return e.post(t, "/oauth2/revoke", form("token", at), "web:"+webSecret) },
		"introspect-refresh": func() response { return e.post(t, "/oauth2/introspect", form("token", rt), "svc:"+svcSecret) },
		"introspect-access":  func() response { return e.post(t, "/oauth2/introspect", form("token", at), "svc:"+svcSecret) },
	}
	tests := []struct{ op, request string }{
		{"GetUser", "password"},
		{"Failures", "password"},
		{"AddFailure", "password"},
		{"AddFailure", "wrong-password"},
		{"CreateFamily", "password"},
		{"ResetFailures", "password"},
		{"Redeem", "refresh"},
		{"GetFamily", "revoke-refresh"},
		{"RevokeFamily", "revoke-refresh"},
		{"RevokeToken", "revoke-access"},
		{"GetFamily", "introspect-refresh"},
		{"IsRevoked", "introspect-access"},
	}
	faults := []struct {
		name       string
		err        error
		wantStatus int
		wantError  string
		wantRetry  bool
	}{
		{"unavailable", fmt.Errorf("dial: %w", store.ErrUnavailable), http.StatusServiceUnavailable, "temporarily_unavailable", true},
		{"other", errors.New("unexpected reply"), http.StatusInternalServerError, "server_error", false},
	}
	for _, tc := range tests {
		for _, f := range faults {
			t.Run(tc.op+"/"+tc.request+"/"+f.name, func(t *testing.T) {
				fs.set(tc.op, f.err)
				defer fs.set(tc.op, nil)
				before := strings.Count(logs.String(), `"level":"ERROR"`)
				r := requests[tc.request]()
				if r.status != f.wantStatus || r.str("error") != f.wantError {
					t.Fatalf("got %d %s, want %d %s", r.status, r.raw, f.wantStatus, f.wantError)
				}
				if got := r.header.Get("Retry-After") != ""; got != f.wantRetry {
					t.Errorf("Retry-After %q, want present = %t", r.header.Get("Retry-After"), f.wantRetry)
				}
				if strings.Contains(r.raw, "access_token") || strings.Contains(r.raw, f.err.Error()) {
					t.Errorf("the answer holds a token or the cause: %s", r.raw)
				}
				if n := strings.Count(logs.String(), `"level":"ERROR"`) - before; n != 1 {
					t.Errorf("%d error log lines, want 1", n)
				}
			})
		}
	}
	// Healed, every request works again, and the log was JSON throughout.
	if r := requests["refresh"](); r.status != http.StatusOK {
		t.Fatalf("refresh after the faults: %d %s", r.status, r.raw)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("log line is not JSON: %s", line)
		}
	}
}
