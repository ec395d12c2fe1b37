package authserver_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestAuthorizeCodeFlow(t *testing.T) {
	e := newCodeEnv(t)
	b := e.browser()
	p := b.get(t, authzQuery())
	if p.status != http.StatusOK {
		t.Fatalf("authorize: %d %s", p.status, p.body)
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "Access-Control-Allow-Origin": "",
	} {
		if got := p.header.Get(k); !strings.Contains(got, want) || (want == "" && got != "") {
			t.Errorf("login page %s = %q, want %q", k, got, want)
		}
	}
	for _, want := range []string{`autocomplete="username"`, `autocomplete="current-password"`, `<label for="username">`, `<label for="password">`, "<html lang=\"en\">", "viewport"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	p = b.signIn(t, p, "alice", alicePass)
	code := e.codeFrom(t, p, spaRedirect, "st-123")
	setCookie := strings.Join(p.header.Values("Set-Cookie"), "\n")
	for _, want := range []string{"__Host-authserver-session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age=43200"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("session cookie lacks %s:\n%s", want, setCookie)
		}
	}
	tok := e.redeem(t, code)
	if tok.status != http.StatusOK || tok.str("refresh_token") == "" || tok.str("scope") != "profile" {
		t.Fatalf("redeem: %d %s", tok.status, tok.raw)
	}
	if got := tok.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("token response Cache-Control %q", got)
	}
	claims := jwtClaims(t, tok.str("access_token"))
	if claims["sub"] != e.alice || claims["client_id"] != "spa" || claims["email"] != "alice@example.test" {
		t.Errorf("access token claims %v", claims)
	}
	r := e.post(t, "/oauth2/token", form("grant_type", "refresh_token", "client_id", "spa", "refresh_token", tok.str("refresh_token")), "")
	if r.status != http.StatusOK || r.str("refresh_token") == tok.str("refresh_token") {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}

	// A second app of the same browser signs in without the form.
	q := url.Values{"response_type": {"code"}, "client_id": {"native"}, "redirect_uri": {"http://127.0.0.1:49152/cb"},
		"code_challenge": {s256(testVerifier)}, "code_challenge_method": {"S256"}, "state": {"n1"}}
	p = b.get(t, "/oauth2/authorize?"+q.Encode())
	e.codeFrom(t, p, "http://127.0.0.1:49152/cb", "n1")

	// prompt=login shows the form despite the session.
	if p = b.get(t, authzQuery("prompt", "login")); p.status != http.StatusOK || !strings.Contains(p.body, "current-password") {
		t.Fatalf("prompt=login: %d", p.status)
	}
	// prompt=none without a session is login_required, redirected.
	p = e.browser().get(t, authzQuery("prompt", "none"))
	if p.location == nil || p.location.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none: %d %v", p.status, p.location)
	}
}

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAuthorizeErrors covers every refusal of the authorization endpoint:
// an unknown client or unregistered redirect URI gets a page and no
// redirect; everything else is redirected with error, state and iss.
func TestAuthorizeErrors(t *testing.T) {
	e := newCodeEnv(t)
	tests := []struct {
		name      string
		path      string
		wantError string // "" for an error page
	}{
		{"unknown-client", authzQuery("client_id", "nobody"), ""},
		{"no-client", authzQuery("client_id", ""), ""},
		{"two-clients", authzQuery() + "&client_id=spa", ""},
		{"unregistered-redirect", authzQuery("redirect_uri", "https://evil.example.test/callback"), ""},
		{"redirect-prefix", authzQuery("redirect_uri", spaRedirect+"/more"), ""},
		{"redirect-extra-query", authzQuery("redirect_uri", spaRedirect+"?x=1"), ""},
		{"redirect-fragment", authzQuery("redirect_uri", spaRedirect+"#f"), ""},
		{"redirect-case", authzQuery("redirect_uri", strings.ToUpper(spaRedirect)), ""},
		{"loopback-other-path", authzQuery("client_id", "native", "redirect_uri", "http://127.0.0.1:5000/other"), ""},
		{"localhost-not-loopback-ip", authzQuery("client_id", "native", "redirect_uri", "http://localhost:5000/cb"), ""},
		{"https-port-must-match", authzQuery("client_id", "native", "redirect_uri", "https://native.example.test:444/a"), ""},
		{"redirect-omitted-several-registered", authzQuery("client_id", "native", "redirect_uri", ""), ""},
		{"malformed-query", "/oauth2/authorize?client_id=spa&%zz", ""},
		{"no-response-type", authzQuery("response_type", ""), "invalid_request"},
		{"token-response-type", authzQuery("response_type", "token"), "unsupported_response_type"},
		{"no-challenge", authzQuery("code_challenge", ""), "invalid_request"},
		{"plain-method", authzQuery("code_challenge_method", "plain"), "invalid_request"},
		{"no-method-means-plain", authzQuery("code_challenge_method", ""), "invalid_request"},
		{"short-challenge", authzQuery("code_challenge", "abc"), "invalid_request"},
		{"challenge-bad-alphabet", authzQuery("code_challenge", strings.Repeat("+", 43)), "invalid_request"},
		{"scope-not-allowed", authzQuery("scope", "admin"), "invalid_scope"},
		{"scope-malformed", authzQuery("scope", "a\"b"), "invalid_scope"},
		{"unknown-prompt", authzQuery("prompt", "select_account"), "invalid_request"},
		{"duplicate-parameter", authzQuery() + "&scope=profile", "invalid_request"},
		{"grant-not-allowed", authzQuery("client_id", "pwonly", "redirect_uri", "https://pw.example.test/cb"), "unauthorized_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := e.browser().get(t, tc.path)
			if tc.wantError == "" {
				if p.status != http.StatusBadRequest || p.location != nil || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
					t.Fatalf("got %d Location %v, want a 400 error page and no redirect", p.status, p.location)
				}
				return
			}
			if p.status != http.StatusSeeOther || p.location == nil {
				t.Fatalf("got %d, want a redirect with %s:\n%s", p.status, tc.wantError, p.body)
			}
			q := p.location.Query()
			if q.Get("error") != tc.wantError || q.Get("error_description") == "" || q.Get("iss") != e.http.URL || q.Get("code") != "" {
				t.Fatalf("redirect %v, want error %s with a description and iss", q, tc.wantError)
			}
			if tc.name != "duplicate-parameter" && q.Get("state") != "st-123" {
				t.Fatalf("state %q not returned", q.Get("state"))
			}
		})
	}
}

// TestAuthorizeRedirectURIs: exact matches, loopback ports that vary,
// custom schemes, and an omitted redirect_uri for a client with one.
func TestAuthorizeRedirectURIs(t *testing.T) {
	e := newCodeEnv(t)
	b := e.browser()
	e.signedInCode(t, b)
	for _, tc := range []struct{ client, redirect string }{
		{"native", "http://127.0.0.1:49152/cb"},
		{"native", "http://127.0.0.1/cb"},
		{"native", "com.example.app:/oauth2redirect"},
		{"native", "https://native.example.test/a"},
		{"spa", ""},
	} {
		p := b.get(t, authzQuery("client_id", tc.client, "redirect_uri", tc.redirect))
		want := tc.redirect
		if want == "" {
			want = spaRedirect
		}
		e.codeFrom(t, p, want, "st-123")
	}
}
