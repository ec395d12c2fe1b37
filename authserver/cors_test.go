package authserver_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCORS: a listed origin gets CORS headers and preflight answers on
// the token, revocation and JWKS endpoints; an unlisted one gets nothing;
// the authorization endpoint never sends any.
func TestCORS(t *testing.T) {
	e := newCodeEnv(t)
	send := func(t *testing.T, method, path, origin string, body url.Values, hdr ...string) response {
		t.Helper()
		var req *http.Request
		if body != nil {
			req, _ = http.NewRequest(method, e.http.URL+path, strings.NewReader(body.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest(method, e.http.URL+path, nil)
		}
		req.Header.Set("Origin", origin)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return e.do(t, req)
	}
	preflight := []string{"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"}
	tests := []struct {
		name, method, path, origin string
		body                       url.Values
		hdr                        []string
		wantStatus                 int
		wantAllow                  bool
	}{
		{"token-preflight", "OPTIONS", "/oauth2/token", spaOrigin, nil, preflight, 204, true},
		{"revoke-preflight", "OPTIONS", "/oauth2/revoke", spaOrigin, nil, preflight, 204, true},
		{"jwks-preflight", "OPTIONS", "/.well-known/jwks.json", spaOrigin, nil, []string{"Access-Control-Request-Method", "GET"}, 204, true},
		{"jwks-get", "GET", "/.well-known/jwks.json", spaOrigin, nil, nil, 200, true},
		{"metadata-get", "GET", "/.well-known/oauth-authorization-server", spaOrigin, nil, nil, 200, true},
		{"token-preflight-unlisted", "OPTIONS", "/oauth2/token", "https://evil.example.test", nil, preflight, 405, false},
		{"jwks-unlisted", "GET", "/.well-known/jwks.json", "https://evil.example.test", nil, nil, 200, false},
		{"token-post", "POST", "/oauth2/token", spaOrigin, form("grant_type", "authorization_code", "client_id", "spa", "code", "x", "code_verifier", testVerifier), nil, 400, true},
		{"revoke-post", "POST", "/oauth2/revoke", spaOrigin, form("client_id", "spa", "token", "x"), nil, 200, true},
		{"token-unlisted-origin", "POST", "/oauth2/token", "https://evil.example.test", form("grant_type", "authorization_code", "client_id", "spa", "code", "x", "code_verifier", testVerifier), nil, 401, false},
		// spa's origin is listed, but not by client app.
		{"token-origin-of-another-client", "POST", "/oauth2/token", spaOrigin, form("grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass), nil, 401, true},
		{"authorize-never", "GET", authzQuery(), spaOrigin, nil, nil, 200, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.method, tc.path, tc.origin, tc.body, tc.hdr...)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.raw)
			}
			got := r.header.Get("Access-Control-Allow-Origin")
			if tc.wantAllow != (got == tc.origin) || (!tc.wantAllow && got != "") {
				t.Fatalf("Access-Control-Allow-Origin %q (want allowed: %t)", got, tc.wantAllow)
			}
			if r.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatal("credentials allowed")
			}
			if tc.wantStatus == 204 && (r.header.Get("Access-Control-Allow-Methods") == "" || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Content-Type")) {
				t.Fatalf("preflight headers %v", r.header)
			}
			if !strings.HasPrefix(tc.path, "/.well-known/") && tc.name != "authorize-never" && !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
				t.Fatalf("no Vary: Origin: %v", r.header)
			}
		})
	}
}

// TestMetadataAuthorizationCode: the discovery document announces the
// flow.
func TestMetadataAuthorizationCode(t *testing.T) {
	e := newCodeEnv(t)
	req, err := http.NewRequest(http.MethodGet, e.http.URL+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		t.Fatal(err)
	}
	md := e.do(t, req).body
	if md["authorization_endpoint"] != e.http.URL+"/oauth2/authorize" || md["authorization_response_iss_parameter_supported"] != true {
		t.Fatalf("metadata %v", md)
	}
	for key, want := range map[string]string{"response_types_supported": "code", "code_challenge_methods_supported": "S256", "grant_types_supported": "authorization_code"} {
		list, _ := md[key].([]any)
		found := false
		for _, v := range list {
			found = found || v == want
		}
		if !found {
			t.Errorf("%s = %v, want %s in it", key, md[key], want)
		}
	}
	if list, _ := md["code_challenge_methods_supported"].([]any); len(list) != 1 {
		t.Errorf("code_challenge_methods_supported %v: S256 only", list)
	}
}
