package authserver_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/password"
)

// TestLockoutUnderConcurrentGuesses sends many wrong guesses at once: no
// more than max_failures of them may reach the password check.
func TestLockoutUnderConcurrentGuesses(t *testing.T) {
	e := newEnv(t, nil) // 5 failures per window
	checked := concurrentGuesses(t, e, 20, func(int) string { return "alice" })
	if checked != 5 {
		t.Fatalf("%d concurrent guesses reached the password check, want exactly 5", checked)
	}
}

// TestTrustedProxies counts failures per client address behind our own
// proxy, and per peer address when the peer is not a trusted proxy.
func TestTrustedProxies(t *testing.T) {
	e := newEnv(t, func(o *authserver.Options) {
		o.Lockout.MaxFailuresPerIP = 2
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	})
	attempt := func(xff string) int {
		req, _ := http.NewRequest("POST", e.http.URL+"/oauth2/token", strings.NewReader(form("grant_type", "password", "client_id", "app", "username", "bob", "password", "wrong-password").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", xff)
		return e.do(t, req).status
	}
	// 198.51.100.7 fails twice through two of our proxies (10.0.0.2 is
	// ours; the first entry is what the client claimed and is ignored).
	attempt("1.2.3.4, 198.51.100.7, 10.0.0.2")
	attempt("198.51.100.7")
	if got := attempt("198.51.100.7"); got != http.StatusTooManyRequests {
		t.Errorf("third failure of 198.51.100.7 = %d, want 429", got)
	}
	if got := attempt("203.0.113.9"); got != http.StatusBadRequest {
		t.Errorf("another client behind the proxy = %d, want 400 (not locked)", got)
	}
}

// TestPasswordHashUpgrade raises the argon2id cost: the next successful
// login re-hashes the password with the new parameters.
func TestPasswordHashUpgrade(t *testing.T) {
	stronger, err := password.NewHasher(password.Params{Memory: 128, Iterations: 2, Parallelism: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *authserver.Options) { o.Hasher = stronger })
	// alice was added by newEnv's server with the stronger hasher; give
	// her an old, weaker hash directly in the store.
	weak, _ := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1}, 1)
	old, _ := weak.Hash(context.Background(), alicePass)
	if _, err := e.store.SetPassword(context.Background(), "alice", old); err != nil {
		t.Fatal(err)
	}
	rt := e.login(t).str("refresh_token")
	u, err := e.store.GetUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("hash after login = %.40s..., want the new parameters", u.PasswordHash)
	}
	// The upgrade is no password change: the session it was made in lives.
	if r := e.refresh(t, rt); r.status != 200 {
		t.Fatalf("refresh after the hash upgrade: %d %s", r.status, r.raw)
	}
	e.login(t) // and the upgraded hash still verifies
}

func TestReservedClaims(t *testing.T) {
	for _, name := range []string{"sub", "Scope", "AUD", "client_id", "Client_ID"} {
		if _, _, err := authserver.ParseClaim(name + "=x"); err == nil {
			t.Errorf("claim %q accepted", name)
		}
	}
	if _, _, err := authserver.ParseClaim("team=blue"); err != nil {
		t.Error(err)
	}
}

func TestUnlock(t *testing.T) {
	e := newEnv(t, nil)
	for range 6 {
		e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", "wrong-password"), "")
	}
	if r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass), ""); r.status != http.StatusTooManyRequests {
		t.Fatalf("not locked: %d", r.status)
	}
	if err := e.srv.Users().Unlock(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	e.login(t)
}
