package authserver_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/internal/testutil"
)

// TestAuditLog runs every security event through the server with debug
// logging on: each event is one JSON line with a stable "event" field, and
// no line holds a password, a client secret or a token.
func TestAuditLog(t *testing.T) {
	var logs testutil.LockedBuffer
	e := newEnv(t, func(o *authserver.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	login := e.login(t)
	rt := login.str("refresh_token")
	next := e.refresh(t, rt)
	e.refresh(t, rt) // replay within the grace
	e.clock.Advance(time.Minute)
	e.refresh(t, rt) // reuse: family revoked
	e.post(t, "/oauth2/token", form("grant_type", "client_credentials"), "svc:"+svcSecret)
	e.post(t, "/oauth2/token", form("grant_type", "client_credentials"), "svc:"+svcSecret+"x")
	web := e.post(t, "/oauth2/token", form("grant_type", "password", "username", "alice", "password", alicePass), "web:"+webSecret)
	e.post(t, "/oauth2/revoke", form("token", web.str("refresh_token")), "web:"+webSecret)
	e.post(t, "/oauth2/revoke", form("token", web.str("access_token")), "web:"+webSecret)
	for range 6 {
		e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", "wrong-"+alicePass), "")
	}

	events := auditEvents(t, logs.String())
	for _, want := range []string{"login_succeeded", "login_failed", "login_locked_out", "token_issued", "refresh_rotated", "refresh_replayed", "refresh_reuse_detected", "family_revoked", "access_token_revoked"} {
		if events[want] == 0 {
			t.Errorf("no %s event; got %v", want, events)
		}
	}
	secrets := []string{alicePass, svcSecret, webSecret, rt, next.str("refresh_token"), login.str("access_token"), web.str("access_token"), web.str("refresh_token")}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log holds a secret: %.12s...", s)
		}
	}
}

// auditEvents counts the "event" fields of logs, JSON lines every one.
func auditEvents(t *testing.T, logs string) map[string]int {
	t.Helper()
	events := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if ev, ok := rec["event"].(string); ok {
			events[ev]++
		}
	}
	return events
}
