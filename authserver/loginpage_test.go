package authserver_test

import (
	"bytes"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/internal/testutil"
)

// TestLoginPageRefusals: wrong password and unknown user read the same,
// the lockout of the password grant applies, and a form without this
// browser's CSRF token is refused.
func TestLoginPageRefusals(t *testing.T) {
	e := newCodeEnv(t)
	b := e.browser()
	form := b.get(t, authzQuery())

	wrong := b.signIn(t, form, "alice", "wrong-password")
	unknown := b.signIn(t, form, "mallory", "wrong-password")
	if wrong.status != http.StatusUnauthorized || unknown.status != http.StatusUnauthorized || wrong.location != nil {
		t.Fatalf("wrong password %d, unknown user %d; want 401 pages", wrong.status, unknown.status)
	}
	strip := func(p page, user string) string {
		return hiddenField.ReplaceAllString(strings.ReplaceAll(p.body, `value="`+user+`"`, ""), "")
	}
	if strip(wrong, "alice") != strip(unknown, "mallory") {
		t.Fatal("the page for an unknown user differs from the page for a wrong password")
	}
	if !strings.Contains(wrong.body, "Incorrect username or password.") || !strings.Contains(wrong.body, `role="alert"`) {
		t.Fatalf("error not shown accessibly:\n%s", wrong.body)
	}
	if p := b.signIn(t, form, "alice", ""); p.status != http.StatusBadRequest {
		t.Fatalf("empty password: %d", p.status)
	}

	t.Run("csrf", func(t *testing.T) {
		f := hidden(t, form)
		f.Set("username", "alice")
		f.Set("password", alicePass)
		other := e.browser() // its own CSRF cookie, or none
		if p := other.postForm(t, "/oauth2/authorize", f); p.status != http.StatusForbidden || p.location != nil {
			t.Fatalf("form posted from another browser: %d %v", p.status, p.location)
		}
		f.Del("csrf")
		if p := b.postForm(t, "/oauth2/authorize", f); p.status != http.StatusForbidden {
			t.Fatalf("form without csrf: %d", p.status)
		}
	})

	t.Run("lockout", func(t *testing.T) {
		for range 4 {
			b.signIn(t, form, "alice", "wrong-password")
		}
		p := b.signIn(t, form, "alice", alicePass)
		if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || p.location != nil {
			t.Fatalf("correct password while locked out: %d Retry-After %q", p.status, p.header.Get("Retry-After"))
		}
		// The password grant sees the same lockout.
		r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"alice"}, "password": {alicePass}}, "")
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("password grant during the page's lockout: %d", r.status)
		}
	})
}

// TestLoginPageAudit: the page's logins, codes and a code replay are
// audit events, and no log line holds a password, code, verifier or
// token.
func TestLoginPageAudit(t *testing.T) {
	var logs testutil.LockedBuffer
	e := newCodeEnvWith(t, func(o *authserver.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	b := e.browser()
	b.signIn(t, b.get(t, authzQuery()), "alice", "wrong-password")
	code := e.signedInCode(t, b)
	tok := e.redeem(t, code)
	e.redeem(t, code)
	events := auditEvents(t, logs.String())
	for _, want := range []string{"login_failed", "login_succeeded", "code_issued", "code_redeemed", "token_issued", "code_reuse_detected"} {
		if events[want] == 0 {
			t.Errorf("no %s event; got %v", want, events)
		}
	}
	for _, s := range []string{alicePass, "wrong-password", code, testVerifier, tok.str("access_token"), tok.str("refresh_token"), b.cookies["__Host-authserver-session"].Value} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log holds a secret: %.12s...", s)
		}
	}
}

// TestConsent: a third-party client gets a consent screen listing its
// scopes; deny redirects access_denied, allow the code, which only the
// authenticated client redeems.
func TestConsent(t *testing.T) {
	e := newCodeEnv(t)
	b := e.browser()
	third := authzQuery("client_id", "third", "redirect_uri", thirdRedirect, "scope", "")
	p := b.signIn(t, b.get(t, third), "alice", alicePass)
	if p.status != http.StatusOK || !strings.Contains(p.body, "<code>profile</code>") || !strings.Contains(p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("consent page: %d\n%s", p.status, p.body)
	}
	f := hidden(t, p)
	f.Set("action", "deny")
	d := b.postForm(t, "/oauth2/authorize", f)
	if d.location == nil || d.location.Query().Get("error") != "access_denied" || d.location.Query().Get("state") != "st-123" {
		t.Fatalf("deny: %d %v", d.status, d.location)
	}
	// With the session, the consent screen comes at once; prompt=none
	// cannot show it.
	if p := b.get(t, third+"&prompt=none"); p.location == nil || p.location.Query().Get("error") != "consent_required" {
		t.Fatalf("prompt=none on a consent client: %d %v", p.status, p.location)
	}
	p = b.get(t, third)
	f = hidden(t, p)
	f.Set("action", "allow")
	code := e.codeFrom(t, b.postForm(t, "/oauth2/authorize", f), thirdRedirect, "st-123")
	body := form("grant_type", "authorization_code", "code", code, "redirect_uri", thirdRedirect, "code_verifier", testVerifier)
	if r := e.post(t, "/oauth2/token", body, "third:wrong-"+thirdSecret); r.status != http.StatusUnauthorized {
		t.Fatalf("confidential client with a wrong secret: %d %s", r.status, r.raw)
	}
	if r := e.post(t, "/oauth2/token", body, "third:"+thirdSecret); r.status != http.StatusOK || r.str("refresh_token") != "" {
		t.Fatalf("confidential client: %d %s (no refresh_token grant: no refresh token)", r.status, r.raw)
	}
	// First-party clients never see it.
	if p := b.get(t, authzQuery()); p.status != http.StatusSeeOther {
		t.Fatalf("first-party client: %d", p.status)
	}
}

// TestSessionEnds: logout, expiry and a password change end the session.
func TestSessionEnds(t *testing.T) {
	e := newCodeEnv(t)
	needsForm := func(t *testing.T, b *browser) {
		t.Helper()
		if p := b.get(t, authzQuery()); p.status != http.StatusOK || !strings.Contains(p.body, "current-password") {
			t.Fatalf("want the login form, got %d %v", p.status, p.location)
		}
	}
	t.Run("logout", func(t *testing.T) {
		b := e.browser()
		e.signedInCode(t, b)
		stolen := *b.cookies["__Host-authserver-session"]
		page := b.get(t, "/oauth2/logout?client_id=spa&post_logout_redirect_uri="+url.QueryEscape(spaRedirect))
		if page.status != http.StatusOK || !strings.Contains(page.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Fatalf("logout page: %d", page.status)
		}
		f := hidden(t, page)
		if p := e.browser().postForm(t, "/oauth2/logout", f); p.status != http.StatusForbidden {
			t.Fatalf("logout without this browser's CSRF cookie: %d", p.status)
		}
		p := b.postForm(t, "/oauth2/logout", f)
		if p.status != http.StatusSeeOther || p.location.String() != spaRedirect {
			t.Fatalf("logout: %d %v", p.status, p.location)
		}
		needsForm(t, b)
		replay := e.browser()
		replay.cookies[stolen.Name] = &stolen
		needsForm(t, replay)
	})
	t.Run("logout-everywhere", func(t *testing.T) {
		b := e.browser()
		tok := e.redeem(t, e.signedInCode(t, b))
		f := hidden(t, b.get(t, "/oauth2/logout?logout_hint=everywhere&post_logout_redirect_uri=https://evil.example.test/"))
		if !strings.Contains(f.Get("post_logout_redirect_uri"), "evil") {
			t.Fatal("form lost post_logout_redirect_uri")
		}
		f.Set("logout_hint", "everywhere")
		if p := b.postForm(t, "/oauth2/logout", f); p.status != http.StatusOK || p.location != nil {
			t.Fatalf("logout to an unregistered URI: %d %v, want a page", p.status, p.location)
		}
		r := e.post(t, "/oauth2/token", form("grant_type", "refresh_token", "client_id", "spa", "refresh_token", tok.str("refresh_token")), "")
		if r.str("error") != "invalid_grant" {
			t.Fatalf("refresh after logout everywhere: %d %s", r.status, r.raw)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		b := e.browser()
		e.signedInCode(t, b)
		e.clock.Advance(12*time.Hour + time.Second)
		needsForm(t, b)
	})
	t.Run("password-change", func(t *testing.T) {
		b := e.browser()
		e.signedInCode(t, b)
		if _, err := e.srv.Users().SetPassword(t.Context(), "alice", alicePass+"-new"); err != nil {
			t.Fatal(err)
		}
		needsForm(t, b)
	})
}

// TestLoginTemplates: an operator's templates directory replaces the
// files it holds, and the product name is shown.
func TestLoginTemplates(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "login.css"), []byte("body{color:teal}"), 0o600)
	os.WriteFile(filepath.Join(dir, "error.html"), []byte(`{{template "head" .}}<p class="custom">{{.Message}}</p>{{template "foot" .}}`), 0o600)
	var opts authserver.Options
	e := newCodeEnvWith(t, func(o *authserver.Options) {
		o.Login = authserver.LoginOptions{TemplatesDir: dir, ProductName: "Acme Accounts"}
		opts = *o
	})
	b := e.browser()
	if p := b.get(t, authzQuery()); !strings.Contains(p.body, "Acme Accounts") || !strings.Contains(p.body, "current-password") {
		t.Fatalf("login page without the product name or the built-in form:\n%s", p.body)
	}
	if p := b.get(t, authzQuery("client_id", "nobody")); !strings.Contains(p.body, `<p class="custom">`) {
		t.Fatalf("error page not replaced:\n%s", p.body)
	}
	if p := b.get(t, "/oauth2/static/login.css"); p.body != "body{color:teal}" || p.header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Fatalf("stylesheet: %q %q", p.body, p.header.Get("Content-Type"))
	}

	// Contextual escaping holds in the operator's templates: a username
	// typed by an attacker lands escaped in text and in an attribute, and
	// a javascript: URL is neutralised.
	os.WriteFile(filepath.Join(dir, "login.html"), []byte(`{{template "head" .}}`+
		`<p>{{.Username}}</p><input value="{{.Username}}"><a href="{{.Username}}">x</a>`+
		`<form method="post"><input type="hidden" name="authz_request" value="{{.Request}}">`+
		`<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="action" value="login"></form>`+
		`{{template "foot" .}}`), 0o600)
	e = newCodeEnvWith(t, func(o *authserver.Options) { o.Login = opts.Login })
	b = e.browser()
	form := hidden(t, b.get(t, authzQuery()))
	signIn := func(user string) page {
		f := url.Values{"username": {user}, "password": {"wrong"}}
		for k, v := range form {
			f[k] = v
		}
		return b.postForm(t, "/oauth2/authorize", f)
	}
	if p := signIn("javascript:alert(1)"); !strings.Contains(p.body, `href="#ZgotmplZ"`) {
		t.Fatalf("javascript: URL not neutralised:\n%s", p.body)
	}
	p := signIn(`"><script>alert(1)</script>`)
	for _, want := range []string{`<p>&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</p>`, `value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`} {
		if !strings.Contains(p.body, want) || strings.Contains(p.body, "<script>") {
			t.Fatalf("username not escaped as %s:\n%s", want, p.body)
		}
	}

	os.WriteFile(filepath.Join(dir, "login.html"), []byte(`{{template "head" .}`), 0o600)
	if _, err := authserver.New(opts); err == nil || !strings.Contains(err.Error(), "login.html") {
		t.Fatalf("New with a broken template: %v", err)
	}
}

// TestSessionAcrossKEKRotation: a browser signed in under one
// key-encryption key keeps its login session (a code, no form) and its
// form's CSRF token at a server whose ring holds a new KEK with the old
// one as previous (keys.previous_encryption_keys), as refresh tokens do;
// where the old KEK is gone, it gets the form again.
func TestSessionAcrossKEKRotation(t *testing.T) {
	k1, k2 := sharedKEK, bytes.Repeat([]byte{0x42}, 32)
	var opts *authserver.Options
	e := newCodeEnvWith(t, func(o *authserver.Options) { opts = o })
	b := e.browser()
	form := b.get(t, authzQuery()) // its CSRF token made under K1
	e.signedInCode(t, b)
	derive := func(kek []byte) []byte {
		k, err := authserver.DeriveRefreshKey(kek)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	// at returns b's cookies at a server over e's store whose ring is
	// current then previous.
	at := func(current []byte, previous ...[]byte) *browser {
		o := *opts
		o.RefreshKey, o.PreviousRefreshKeys = derive(current), nil
		for _, p := range previous {
			o.PreviousRefreshKeys = append(o.PreviousRefreshKeys, derive(p))
		}
		srv, err := authserver.New(o)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		e2 := *e
		e2.srv, e2.http = srv, hs
		return &browser{e: &e2, cookies: maps.Clone(b.cookies)}
	}
	rotated := at(k2, k1)
	if p := rotated.get(t, authzQuery()); p.status != http.StatusSeeOther || p.location == nil || p.location.Query().Get("code") == "" {
		t.Fatalf("signed in under K1, at [K2, K1]: %d %v, want a code without the form", p.status, p.location)
	}
	other := e.browser()
	other.cookies = maps.Clone(b.cookies)
	delete(other.cookies, "__Host-authserver-session")
	other.e = rotated.e
	if p := other.signIn(t, form, "alice", alicePass); p.status != http.StatusSeeOther {
		t.Fatalf("a form of K1 posted at [K2, K1]: %d, want it accepted", p.status)
	}
	if p := at(k2).get(t, authzQuery()); p.status != http.StatusOK || !strings.Contains(p.body, "current-password") {
		t.Fatalf("signed in under K1, at [K2]: %d %v, want the form", p.status, p.location)
	}
}
