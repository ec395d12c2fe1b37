package authserver_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestEmptyParameters: a parameter sent without a value is treated as if
// it were omitted (RFC 6749 §3.2), in form and JSON bodies and for every
// grant.
func TestEmptyParameters(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.login(t).str("refresh_token")
	webRT := e.post(t, "/oauth2/token", form("grant_type", "password", "username", "alice", "password", alicePass, "scope", "profile"), "web:"+webSecret).str("refresh_token")
	pw := []string{"grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass}
	tests := []struct {
		name       string
		json       string // a JSON body instead of form
		form       []string
		basic      string
		wantStatus int
		wantError  string
		wantScope  string
	}{
		{name: "password-empty-scope", form: append(pw, "scope", ""), wantStatus: 200, wantScope: "profile orders:read"},
		{name: "password-empty-then-given-scope", form: append(pw, "scope", "", "scope", "profile"), wantStatus: 200, wantScope: "profile"},
		{name: "password-public-empty-secret", form: append(pw, "client_secret", ""), wantStatus: 200, wantScope: "profile orders:read"},
		{name: "password-json-empty", json: `{"grant_type":"password","client_id":"app","username":"alice","password":"` + alicePass + `","scope":"","client_secret":""}`, wantStatus: 200, wantScope: "profile orders:read"},
		{name: "password-empty-password", form: []string{"grant_type", "password", "client_id", "app", "username", "alice", "password", ""}, wantStatus: 400, wantError: "invalid_request"},
		{name: "password-basic-empty-client-id", form: []string{"grant_type", "password", "client_id", "", "username", "alice", "password", alicePass}, basic: "web:" + webSecret, wantStatus: 200, wantScope: "profile"},
		{name: "refresh-empty-scope-and-secret", form: []string{"grant_type", "refresh_token", "client_id", "app", "refresh_token", rt, "scope", "", "client_secret", ""}, wantStatus: 200, wantScope: "profile orders:read"},
		{name: "refresh-json-empty-scope", json: `{"grant_type":"refresh_token","refresh_token":"` + webRT + `","scope":""}`, basic: "web:" + webSecret, wantStatus: 200, wantScope: "profile"},
		{name: "refresh-empty-token", form: []string{"grant_type", "refresh_token", "client_id", "app", "refresh_token", ""}, wantStatus: 400, wantError: "invalid_request"},
		{name: "client-credentials-empty-scope", form: []string{"grant_type", "client_credentials", "scope", ""}, basic: "svc:" + svcSecret, wantStatus: 200, wantScope: "billing reports"},
		{name: "client-credentials-basic-and-empty-secret", form: []string{"grant_type", "client_credentials", "client_secret", "", "client_id", ""}, basic: "svc:" + svcSecret, wantStatus: 200, wantScope: "billing reports"},
		{name: "client-credentials-empty-secret-is-no-secret", form: []string{"grant_type", "client_credentials", "client_id", "svc", "client_secret", ""}, wantStatus: 401, wantError: "invalid_client"},
		{name: "client-credentials-json-empty-scope", json: `{"grant_type":"client_credentials","client_id":"svc","client_secret":"` + svcSecret + `","scope":""}`, wantStatus: 200, wantScope: "billing reports"},
		{name: "empty-grant-type", form: []string{"grant_type", "", "client_id", "app"}, wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.json != "" {
				req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/oauth2/token", strings.NewReader(tc.json))
				req.Header.Set("Content-Type", "application/json")
				if id, secret, ok := strings.Cut(tc.basic, ":"); ok {
					req.SetBasicAuth(id, secret)
				}
				r = e.do(t, req)
			} else {
				r = e.post(t, "/oauth2/token", form(tc.form...), tc.basic)
			}
			if r.status != tc.wantStatus || r.str("error") != tc.wantError {
				t.Fatalf("got %d %s, want %d %q", r.status, r.raw, tc.wantStatus, tc.wantError)
			}
			if r.status == 200 && r.str("scope") != tc.wantScope {
				t.Errorf("scope = %q, want %q", r.str("scope"), tc.wantScope)
			}
		})
	}
	for _, path := range []string{"/oauth2/revoke", "/oauth2/introspect"} {
		if r := e.post(t, path, form("token", ""), "svc:"+svcSecret); r.status != 400 || r.str("error") != "invalid_request" {
			t.Errorf("%s with an empty token: %d %s, want 400 invalid_request", path, r.status, r.raw)
		}
	}
}
