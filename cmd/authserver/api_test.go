package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/authserver/clientsecret"
)

// TestAdminAPIServed runs `authserver serve` and drives one user through
// the admin API and the CLI alike: both act on the same store through
// the same service layer.
func TestAdminAPIServed(t *testing.T) {
	dir := t.TempDir()
	const secret = "signup-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	hash, err := clientsecret.Hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "http://authserver.test"
	cfg := filepath.Join(dir, "authserver.yaml")
	os.WriteFile(cfg, []byte(`store:
  embedded: {path: `+filepath.Join(dir, "data", "a.db")+`}
clients:
  - id: signup
    secret_hash: "`+hash+`"
    grants: [client_credentials]
    scopes: ["authserver:users.read", "authserver:users.write"]
    audience: ["`+issuer+`"]
`), 0o600)
	env := []string{"AUTHSERVER_ISSUER=" + issuer}
	s := startServer(t, dir, env, "--config", cfg)
	resp, err := http.PostForm(s.base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"signup"}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	call := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, user := call("POST", "/admin/v1/users", `{"name":"bob","password":"bob-password"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, user)
	}
	out, _, code := cli(t, dir, "", env, "--config", cfg, "users", "list")
	if code != 0 || !strings.Contains(out, user["id"].(string)) {
		t.Fatalf("users list after the API created bob: %d %s", code, out)
	}
	if _, stderr, code := cli(t, dir, "", env, "--config", cfg, "users", "disable", "bob"); code != 0 {
		t.Fatalf("users disable: %s", stderr)
	}
	if code, got := call("GET", "/admin/v1/usernames/bob", ""); code != 200 || got["disabled"] != true {
		t.Fatalf("the API does not see the CLI's disable: %d %v", code, got)
	}
	if code, got := call("GET", "/admin/v1/keys", ""); code != http.StatusForbidden {
		t.Fatalf("keys without authserver:keys: %d %v", code, got)
	}
}
