package authserver_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkAuthorizationCode is the code flow of a signed-in browser: the
// authorization request answered from the session cookie, then the code
// redeemed for an access token and a refresh family.
func BenchmarkAuthorizationCode(b *testing.B) {
	e := newCodeEnv(b)
	h := e.srv.Handler()
	do := func(req *http.Request, cookies []*http.Cookie) *http.Response {
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Result()
	}
	// Sign in once through the login form.
	page := do(httptest.NewRequest(http.MethodGet, authzQuery(), nil), nil)
	cookies := page.Cookies()
	body := new(strings.Builder)
	page.Write(body)
	f := url.Values{"username": {"alice"}, "password": {alicePass}}
	for _, m := range hiddenField.FindAllStringSubmatch(body.String(), -1) {
		f.Set(m[1], html.UnescapeString(m[2]))
	}
	post := httptest.NewRequest(http.MethodPost, "/oauth2/authorize", strings.NewReader(f.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	login := do(post, cookies)
	if login.StatusCode != http.StatusSeeOther {
		b.Fatalf("sign in: %d", login.StatusCode)
	}
	cookies = append(cookies, login.Cookies()...)

	for b.Loop() {
		resp := do(httptest.NewRequest(http.MethodGet, authzQuery(), nil), cookies)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			b.Fatalf("authorize: %d %v", resp.StatusCode, loc)
		}
		serve(b, h, form("grant_type", "authorization_code", "client_id", "spa", "code", loc.Query().Get("code"),
			"redirect_uri", spaRedirect, "code_verifier", testVerifier).Encode(), "")
	}
}
