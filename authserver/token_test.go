package authserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/oauthkit/authserver/internal/testutil"
)

// verifyToken checks an access token against the served JWKS with go-jose,
// a JOSE library other than the jwx that signs, and returns its header and
// claims.
func (e *env) verifyToken(t *testing.T, token string) (jose.Header, map[string]any) {
	t.Helper()
	return testutil.VerifyWithJOSE(t, e.http.URL+"/.well-known/jwks.json", token)
}

func TestPasswordGrantIssuesRFC9068Token(t *testing.T) {
	e := newEnv(t, nil)
	r := e.login(t)
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Errorf("cache headers = %q, %q", r.header.Get("Cache-Control"), r.header.Get("Pragma"))
	}
	if r.str("token_type") != "Bearer" || r.body["expires_in"] != float64(900) || r.str("scope") != "profile orders:read" {
		t.Errorf("response = %s", r.raw)
	}
	if rt := r.str("refresh_token"); len(rt) < 43 {
		t.Errorf("refresh token %q shorter than 256 bits", rt)
	}
	h, claims := e.verifyToken(t, r.str("access_token"))
	if h.ExtraHeaders["typ"] != "at+jwt" || h.Algorithm != "RS256" || h.KeyID == "" {
		t.Errorf("header = %+v", h)
	}
	now := float64(e.clock.Now().Unix())
	want := map[string]any{
		"iss": e.http.URL, "sub": e.alice, "aud": "api", "client_id": "app",
		"scope": "profile orders:read", "iat": now, "exp": now + 900, "email": "alice@example.test",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if jti, _ := claims["jti"].(string); len(jti) < 16 {
		t.Errorf("jti = %v", claims["jti"])
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name      string
		form      []string
		basic     string
		wantScope string
	}{
		{"basic-all-scopes", []string{"grant_type", "client_credentials"}, "svc:" + svcSecret, "billing reports"},
		{"post-narrowed", []string{"grant_type", "client_credentials", "client_id", "svc", "client_secret", svcSecret, "scope", "reports"}, "", "reports"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, "/oauth2/token", form(tc.form...), tc.basic)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if _, ok := r.body["refresh_token"]; ok {
				t.Error("client_credentials returned a refresh token")
			}
			_, claims := e.verifyToken(t, r.str("access_token"))
			if claims["sub"] != "svc" || claims["client_id"] != "svc" || claims["scope"] != tc.wantScope {
				t.Errorf("claims = %v", claims)
			}
		})
	}
}

func TestClientAudience(t *testing.T) {
	e := newEnv(t, nil)
	r := e.post(t, "/oauth2/token", form("grant_type", "password", "username", "alice", "password", alicePass), "web:"+webSecret)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if _, claims := e.verifyToken(t, r.str("access_token")); claims["aud"] != "web-api" {
		t.Errorf("aud = %v, want the client's audience web-api", claims["aud"])
	}
}

func TestJSONBody(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"grant_type":"password","client_id":"app","username":"alice","password":"` + alicePass + `","scope":"profile"}`
	req, _ := http.NewRequest("POST", e.http.URL+"/oauth2/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	r := e.do(t, req)
	if r.status != 200 || r.str("scope") != "profile" {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	rt := r.str("refresh_token")
	req, _ = http.NewRequest("POST", e.http.URL+"/oauth2/token", strings.NewReader(`{"grant_type":"refresh_token","client_id":"app","refresh_token":"`+rt+`"}`))
	req.Header.Set("Content-Type", "application/json")
	if r := e.do(t, req); r.status != 200 {
		t.Fatalf("refresh with JSON body: %d %s", r.status, r.raw)
	}
}

// TestErrors walks every error of the contract through real HTTP.
func TestErrors(t *testing.T) {
	e := newEnv(t, nil)
	pw := func(extra ...string) []string {
		return append([]string{"grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass}, extra...)
	}
	tests := []struct {
		name        string
		contentType string
		body        string
		basic       string
		method      string
		wantStatus  int
		wantError   string
		wantAuthHdr bool
	}{
		{name: "missing-grant-type", body: "client_id=app", wantStatus: 400, wantError: "invalid_request"},
		{name: "unknown-grant-type", body: "grant_type=urn:example:unknown&client_id=app", wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "implicit-grant-type", body: "grant_type=__implicit&client_id=app", wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "grant-not-allowed", body: "grant_type=client_credentials&client_id=app", wantStatus: 400, wantError: "unauthorized_client"},
		{name: "password-for-service", body: "grant_type=password&username=alice&password=x", basic: "svc:" + svcSecret, wantStatus: 400, wantError: "unauthorized_client"},
		{name: "no-client", body: "grant_type=password&username=alice&password=x", wantStatus: 401, wantError: "invalid_client"},
		{name: "unknown-client", body: "grant_type=client_credentials&client_id=nobody&client_secret=x", wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong-secret-basic", body: "grant_type=client_credentials", basic: "svc:wrong", wantStatus: 401, wantError: "invalid_client", wantAuthHdr: true},
		{name: "wrong-secret-post", body: "grant_type=client_credentials&client_id=svc&client_secret=wrong", wantStatus: 401, wantError: "invalid_client"},
		{name: "confidential-without-secret", body: "grant_type=client_credentials&client_id=svc", wantStatus: 401, wantError: "invalid_client"},
		{name: "public-client-with-secret", body: "grant_type=password&client_id=app&client_secret=x&username=alice&password=x", wantStatus: 401, wantError: "invalid_client"},
		{name: "two-auth-methods", body: "grant_type=client_credentials&client_secret=" + svcSecret, basic: "svc:" + svcSecret, wantStatus: 400, wantError: "invalid_request"},
		{name: "duplicate-parameter", body: form(pw("scope", "profile", "scope", "orders:read")...).Encode(), wantStatus: 400, wantError: "invalid_request"},
		{name: "missing-password", body: "grant_type=password&client_id=app&username=alice", wantStatus: 400, wantError: "invalid_request"},
		{name: "wrong-password", body: form("grant_type", "password", "client_id", "app", "username", "alice", "password", "nope-nope").Encode(), wantStatus: 400, wantError: "invalid_grant"},
		{name: "unknown-user", body: form("grant_type", "password", "client_id", "app", "username", "mallory", "password", "nope-nope").Encode(), wantStatus: 400, wantError: "invalid_grant"},
		{name: "scope-not-allowed", body: form(pw("scope", "admin")...).Encode(), wantStatus: 400, wantError: "invalid_scope"},
		{name: "malformed-scope", body: form(pw("scope", "pro\"file")...).Encode(), wantStatus: 400, wantError: "invalid_scope"},
		{name: "missing-refresh-token", body: "grant_type=refresh_token&client_id=app", wantStatus: 400, wantError: "invalid_request"},
		{name: "forged-refresh-token", body: "grant_type=refresh_token&client_id=app&refresh_token=" + strings.Repeat("A", 92), wantStatus: 400, wantError: "invalid_grant"},
		{name: "garbage-refresh-token", body: "grant_type=refresh_token&client_id=app&refresh_token=%00%ff", wantStatus: 400, wantError: "invalid_grant"},
		{name: "json-body", contentType: "application/json", body: `{"grant_type":"client_credentials"}`, basic: "svc:wrong", wantStatus: 401, wantError: "invalid_client", wantAuthHdr: true},
		{name: "json-non-string", contentType: "application/json", body: `{"grant_type":1}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "json-array", contentType: "application/json", body: `[1,2]`, wantStatus: 400, wantError: "invalid_request"},
		{name: "json-duplicate-key", contentType: "application/json", body: `{"grant_type":"password","grant_type":"client_credentials"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "json-null-body", contentType: "application/json", body: `null`, wantStatus: 400, wantError: "invalid_request"},
		{name: "malformed-basic", body: "grant_type=client_credentials", basic: "garbage-basic", wantStatus: 401, wantError: "invalid_client", wantAuthHdr: true},
		{name: "json-trailing", contentType: "application/json", body: `{"grant_type":"password"} {}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "unsupported-content-type", contentType: "text/plain", body: "grant_type=password", wantStatus: 400, wantError: "invalid_request"},
		{name: "malformed-form", body: "grant_type=%zz", wantStatus: 400, wantError: "invalid_request"},
		{name: "body-over-64KiB", body: "grant_type=password&client_id=app&username=" + strings.Repeat("a", 70<<10), wantStatus: 413, wantError: "invalid_request"},
		{name: "get-method", method: "GET", wantStatus: 405, wantError: "invalid_request"},
		{name: "bearer-auth-scheme", body: "grant_type=client_credentials", basic: "bearer", wantStatus: 401, wantError: "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, e.http.URL+"/oauth2/token", strings.NewReader(tc.body))
			ct := tc.contentType
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			switch {
			case tc.basic == "bearer":
				req.Header.Set("Authorization", "Bearer abc")
			case tc.basic == "garbage-basic":
				req.Header.Set("Authorization", "Basic !!!not-base64")
			case tc.basic != "":
				id, secret, _ := strings.Cut(tc.basic, ":")
				req.SetBasicAuth(id, secret)
			}
			r := e.do(t, req)
			if r.status != tc.wantStatus || r.str("error") != tc.wantError {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.wantStatus, tc.wantError)
			}
			if r.str("error_description") == "" {
				t.Error("no error_description")
			}
			if got := r.header.Get("WWW-Authenticate") != ""; got != tc.wantAuthHdr {
				t.Errorf("WWW-Authenticate present = %v, want %v", got, tc.wantAuthHdr)
			}
			if strings.Contains(r.raw, "access_token") {
				t.Error("an error response carries a token")
			}
		})
	}
}

// TestStoreDownIs503 closes the store under a running server: every grant
// that needs it answers 503 temporarily_unavailable, and readiness fails.
func TestStoreDownIs503(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.login(t).str("refresh_token")
	e.store.Close()
	for name, r := range map[string]response{
		"password": e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass), ""),
		"refresh":  e.refresh(t, rt),
	} {
		if r.status != 503 || r.str("error") != "temporarily_unavailable" {
			t.Errorf("%s: got %d %s, want 503 temporarily_unavailable", name, r.status, r.raw)
		}
	}
	resp, err := http.Get(e.http.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz = %d with the store closed", resp.StatusCode)
	}
	if m := e.scrape(t); !strings.Contains(m, `authserver_store_errors_total{op="redeem"} 1`) {
		t.Error("the failed redemption is not counted in authserver_store_errors_total")
	}
}

func TestDiscoveryAndHealth(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var md map[string]any
		json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		for k, want := range map[string]string{
			"issuer":                 e.http.URL,
			"token_endpoint":         e.http.URL + "/oauth2/token",
			"jwks_uri":               e.http.URL + "/.well-known/jwks.json",
			"revocation_endpoint":    e.http.URL + "/oauth2/revoke",
			"introspection_endpoint": e.http.URL + "/oauth2/introspect",
		} {
			if md[k] != want {
				t.Errorf("%s: %s = %v, want %s", path, k, md[k], want)
			}
		}
		for _, k := range []string{"grant_types_supported", "token_endpoint_auth_methods_supported", "scopes_supported"} {
			if _, ok := md[k].([]any); !ok {
				t.Errorf("%s: %s missing", path, k)
			}
		}
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestJWKSCaching(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := http.Get(e.http.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("headers = %v", resp.Header)
	}
	for _, member := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if strings.Contains(string(body), member) {
			t.Errorf("JWKS carries private member %s", member)
		}
	}
	req, _ := http.NewRequest("GET", e.http.URL+"/.well-known/jwks.json", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match = %d, want 304", resp.StatusCode)
	}
}
