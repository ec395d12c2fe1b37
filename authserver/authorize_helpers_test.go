package authserver_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/authserver"
)

const (
	spaRedirect   = "https://app.example.test/callback"
	spaOrigin     = "https://app.example.test"
	thirdRedirect = "https://third.example.test/cb"
	thirdSecret   = "third-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	testVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

// s256 is the PKCE challenge of v.
func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newCodeEnv is newEnv with the clients of the authorization code flow.
func newCodeEnv(t testing.TB) *env { return newCodeEnvWith(t, nil) }

// newCodeEnvWith is newCodeEnv changed by mutate.
func newCodeEnvWith(t testing.TB, mutate func(*authserver.Options)) *env {
	return newEnv(t, func(o *authserver.Options) {
		if mutate != nil {
			mutate(o)
		}
		o.Clients = append(o.Clients,
			authserver.Client{ID: "spa", Public: true, Grants: []string{"authorization_code", "refresh_token"},
				Scopes: []string{"profile", "orders:read"}, RedirectURIs: []string{spaRedirect}, AllowedOrigins: []string{spaOrigin}},
			authserver.Client{ID: "native", Public: true, Grants: []string{"authorization_code", "refresh_token"},
				Scopes: []string{"profile"}, RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.app:/oauth2redirect", "https://native.example.test/a"}},
			authserver.Client{ID: "third", SecretHash: mustHash(t, thirdSecret), Grants: []string{"authorization_code"}, Consent: true,
				Scopes: []string{"profile"}, RedirectURIs: []string{thirdRedirect}},
			authserver.Client{ID: "pwonly", Public: true, Grants: []string{"password"}, RedirectURIs: []string{"https://pw.example.test/cb"}},
		)
	})
}

// browser holds the cookies of one user agent. It keeps them by hand:
// net/http/cookiejar never sends Secure cookies over http, while browsers
// do to 127.0.0.1.
type browser struct {
	e       *env
	cookies map[string]*http.Cookie
}

func (e *env) browser() *browser { return &browser{e: e, cookies: map[string]*http.Cookie{}} }

// page is one answer to the browser.
type page struct {
	status   int
	header   http.Header
	body     string
	location *url.URL
}

func (b *browser) send(t *testing.T, req *http.Request) page {
	t.Helper()
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	client := *b.e.http.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	p := page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	if loc := resp.Header.Get("Location"); loc != "" {
		if p.location, err = url.Parse(loc); err != nil {
			t.Fatalf("Location %q: %v", loc, err)
		}
	}
	return p
}

func (b *browser) get(t *testing.T, path string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.http.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.send(t, req)
}

func (b *browser) postForm(t *testing.T, path string, f url.Values) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.http.URL+path, strings.NewReader(f.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.send(t, req)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// hidden returns the hidden fields of the form on p.
func hidden(t *testing.T, p page) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("csrf") == "" {
		t.Fatalf("no form with a CSRF token on the page (%d):\n%s", p.status, p.body)
	}
	return v
}

// authzQuery is a valid authorization request of client spa, changed by
// kv (an empty value deletes the parameter).
func authzQuery(kv ...string) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {spaRedirect}, "state": {"st-123"},
		"code_challenge": {s256(testVerifier)}, "code_challenge_method": {"S256"}, "scope": {"profile"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return "/oauth2/authorize?" + q.Encode()
}

// signIn submits the login form on p.
func (b *browser) signIn(t *testing.T, p page, user, pw string) page {
	t.Helper()
	f := hidden(t, p)
	f.Set("username", user)
	f.Set("password", pw)
	return b.postForm(t, "/oauth2/authorize", f)
}

// codeFrom checks a successful authorization response and returns its
// code.
func (e *env) codeFrom(t *testing.T, p page, redirect, state string) string {
	t.Helper()
	if p.status != http.StatusSeeOther || p.location == nil {
		t.Fatalf("want a 303 redirect, got %d:\n%s", p.status, p.body)
	}
	q := p.location.Query()
	if base := strings.SplitN(p.location.String(), "?", 2)[0]; base != strings.SplitN(redirect, "?", 2)[0] {
		t.Fatalf("redirected to %s, want %s", p.location, redirect)
	}
	if q.Get("state") != state || q.Get("iss") != e.http.URL || q.Get("error") != "" {
		t.Fatalf("authorization response %v: want state %q and iss %q", q, state, e.http.URL)
	}
	if len(q.Get("code")) != 43 {
		t.Fatalf("code %q is not 256 bits in base64url", q.Get("code"))
	}
	return q.Get("code")
}

// redeem exchanges code at the token endpoint as client spa.
func (e *env) redeem(t *testing.T, code string, kv ...string) response {
	t.Helper()
	f := form("grant_type", "authorization_code", "client_id", "spa", "code", code, "redirect_uri", spaRedirect, "code_verifier", testVerifier)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			f.Del(kv[i])
		} else {
			f.Set(kv[i], kv[i+1])
		}
	}
	return e.post(t, "/oauth2/token", f, "")
}

// signedInCode runs the whole front channel for spa and returns a code.
func (e *env) signedInCode(t *testing.T, b *browser) string {
	t.Helper()
	p := b.get(t, authzQuery())
	if p.status == http.StatusOK {
		p = b.signIn(t, p, "alice", alicePass)
	}
	return e.codeFrom(t, p, spaRedirect, "st-123")
}
