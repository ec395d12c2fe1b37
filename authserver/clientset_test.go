package authserver_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/clientsecret"
	"github.com/oauthkit/authserver/internal/testutil"
)

const svcSecret2 = "svc-secret-second-0123456789abcdefghijklmnopqrstuvwxyz"

// svcClients is the test server's client list with svc's secrets
// replaced by hashes.
func svcClients(e *env, hashes ...string) []authserver.Client {
	var out []authserver.Client
	for _, c := range []authserver.Client{
		{ID: "app", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"profile", "orders:read"}},
		{ID: "svc", Grants: []string{"client_credentials"}, Scopes: []string{"billing", "reports"}, Introspect: true},
	} {
		if c.ID == "svc" && len(hashes) > 0 {
			c.SecretHash, c.SecretHashes = hashes[0], hashes[1:]
		}
		out = append(out, c)
	}
	return out
}

// TestClientSecretRotation follows the rotation of a client secret
// through the server: with two live secrets both authenticate, the metric
// and a single audit event per secret say which one did, and once the old
// one is removed it fails while the new one goes on.
func TestClientSecretRotation(t *testing.T) {
	var logs testutil.LockedBuffer
	e := newEnv(t, func(o *authserver.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	oldHash, newHash := mustHash(t, svcSecret), mustHash(t, svcSecret2)
	cc := func(secret string) int {
		return e.post(t, "/oauth2/token", form("grant_type", "client_credentials"), "svc:"+secret).status
	}
	if got := cc(svcSecret2); got != http.StatusUnauthorized {
		t.Fatalf("new secret before it was added: %d, want 401", got)
	}
	if err := e.srv.SetClients(svcClients(e, oldHash, newHash)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got := cc(svcSecret); got != http.StatusOK {
			t.Fatalf("old secret with two live: %d", got)
		}
		if got := cc(svcSecret2); got != http.StatusOK {
			t.Fatalf("new secret with two live: %d", got)
		}
	}
	if got := cc("svc-secret-wrong-0123456789abcdefghijklmnopqrstuvwxyz"); got != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", got)
	}
	metrics := e.scrape(t)
	for _, h := range []string{oldHash, newHash} {
		want := `authserver_client_secret_used_total{client_id="svc",secret="` + clientsecret.ID(h) + `"} 2`
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	used := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		json.Unmarshal([]byte(line), &rec)
		if rec["event"] == "client_secret_used" {
			used[rec["secret"].(string)]++
		}
	}
	if used[clientsecret.ID(oldHash)] != 1 || used[clientsecret.ID(newHash)] != 1 {
		t.Errorf("client_secret_used events per secret id: %v, want one each", used)
	}
	for _, s := range []string{svcSecret, svcSecret2, oldHash, newHash} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log holds a secret or its hash: %.12s...", s)
		}
	}

	if err := e.srv.SetClients(svcClients(e, newHash)); err != nil {
		t.Fatal(err)
	}
	if got := cc(svcSecret); got != http.StatusUnauthorized {
		t.Errorf("old secret after removal: %d, want 401", got)
	}
	if got := cc(svcSecret2); got != http.StatusOK {
		t.Errorf("new secret after removal of the old: %d", got)
	}
}

// TestSetClientsRefused: a list the server would refuse at start is
// refused by SetClients too, and the clients in use stay.
func TestSetClientsRefused(t *testing.T) {
	e := newEnv(t, nil)
	for name, clients := range map[string][]authserver.Client{
		"bad-hash":           {{ID: "svc", SecretHash: "sha256:nope", Grants: []string{"client_credentials"}}},
		"duplicate-id":       {{ID: "app", Public: true, Grants: []string{"password"}}, {ID: "app", Public: true, Grants: []string{"password"}}},
		"public-with-secret": {{ID: "app", Public: true, SecretHashes: []string{mustHash(t, svcSecret2)}, Grants: []string{"password"}}},
		"no-secret":          {{ID: "svc", Grants: []string{"client_credentials"}}},
	} {
		if err := e.srv.SetClients(clients); err == nil {
			t.Errorf("%s: SetClients accepted it", name)
		}
	}
	if got := e.post(t, "/oauth2/token", form("grant_type", "client_credentials"), "svc:"+svcSecret).status; got != http.StatusOK {
		t.Errorf("svc after refused reloads: %d, want 200", got)
	}
	e.login(t)
}
