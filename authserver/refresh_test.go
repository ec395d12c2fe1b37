package authserver_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver"
)

func TestRefreshRotates(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.login(t).str("refresh_token")
	for i := range 5 {
		e.clock.Advance(time.Minute)
		r := e.refresh(t, rt)
		if r.status != 200 {
			t.Fatalf("refresh %d: %d %s", i, r.status, r.raw)
		}
		next := r.str("refresh_token")
		if next == "" || next == rt {
			t.Fatalf("refresh %d did not rotate the token", i)
		}
		_, claims := e.verifyToken(t, r.str("access_token"))
		if claims["sub"] != e.alice || claims["email"] != "alice@example.test" || claims["iat"] != float64(e.clock.Now().Unix()) {
			t.Errorf("refresh %d claims = %v", i, claims)
		}
		rt = next
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	e := newEnv(t, nil)
	old := e.login(t).str("refresh_token")
	newest := e.refresh(t, old).str("refresh_token")
	e.clock.Advance(11 * time.Second) // past the 10s grace
	if r := e.refresh(t, old); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("replay of a rotated token: %d %s, want invalid_grant", r.status, r.raw)
	}
	if r := e.refresh(t, newest); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("newest token after reuse: %d %s; the family should be revoked", r.status, r.raw)
	}
}

func TestRefreshOlderGenerationRevokesFamily(t *testing.T) {
	e := newEnv(t, nil)
	gen0 := e.login(t).str("refresh_token")
	gen1 := e.refresh(t, gen0).str("refresh_token")
	e.clock.Advance(time.Second)
	gen2 := e.refresh(t, gen1).str("refresh_token")
	// gen0 is two rotations old: its hash is no longer stored, but its
	// MAC proves we issued it, so it counts as a replay even in the grace.
	if r := e.refresh(t, gen0); r.status != 400 {
		t.Fatalf("generation 0 replay: %d %s", r.status, r.raw)
	}
	if r := e.refresh(t, gen2); r.status != 400 {
		t.Fatalf("family survived the replay of generation 0: %d", r.status)
	}
}

func TestRefreshRetryWithinGraceIsIdempotent(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.login(t).str("refresh_token")
	first := e.refresh(t, rt)
	e.clock.Advance(5 * time.Second)
	again := e.refresh(t, rt)
	if again.status != 200 || again.raw != first.raw {
		t.Fatalf("retry within grace:\n got %d %s\nwant %s", again.status, again.raw, first.raw)
	}
	// The family lives on: its newest token works.
	if r := e.refresh(t, first.str("refresh_token")); r.status != 200 {
		t.Fatalf("family died after a retry within grace: %d %s", r.status, r.raw)
	}
}

func TestConcurrentRedemption(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{{"grace-0", 0}, {"grace-10s", 10 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *authserver.Options) { o.RefreshReuseGrace = tc.grace })
			rt := e.login(t).str("refresh_token")
			const n = 16
			results := make([]response, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					results[i] = e.refresh(t, rt)
				})
			}
			close(start)
			wg.Wait()
			ok, bodies := 0, map[string]bool{}
			for _, r := range results {
				if r.status == 200 {
					ok++
					bodies[r.raw] = true
				} else if r.str("error") != "invalid_grant" {
					t.Errorf("loser got %d %s", r.status, r.raw)
				}
			}
			if tc.grace == 0 {
				if ok != 1 {
					t.Fatalf("%d requests succeeded, want exactly 1", ok)
				}
				return
			}
			if ok != n || len(bodies) != 1 {
				t.Fatalf("%d of %d succeeded with %d distinct responses; want all, and one response", ok, n, len(bodies))
			}
		})
	}
}

func TestRefreshClientBinding(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.login(t).str("refresh_token")
	r := e.post(t, "/oauth2/token", form("grant_type", "refresh_token", "refresh_token", rt), "web:"+webSecret)
	if r.status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("another client redeemed the token: %d %s", r.status, r.raw)
	}
	if r := e.refresh(t, rt); r.status != 200 {
		t.Fatalf("the rightful client lost its token: %d %s", r.status, r.raw)
	}
}

func TestRefreshScope(t *testing.T) {
	e := newEnv(t, nil)
	r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass, "scope", "profile"), "")
	rt := r.str("refresh_token")
	if w := e.refresh(t, rt, "scope", "profile orders:read"); w.status != 400 || w.str("error") != "invalid_scope" {
		t.Fatalf("widening: %d %s, want invalid_scope", w.status, w.raw)
	}
	// The refused widening changed nothing: the token still works.
	n := e.refresh(t, rt, "scope", "profile")
	if n.status != 200 || n.str("scope") != "profile" {
		t.Fatalf("same scope: %d %s", n.status, n.raw)
	}

	full := e.login(t).str("refresh_token")
	narrow := e.refresh(t, full, "scope", "orders:read")
	if narrow.str("scope") != "orders:read" {
		t.Fatalf("narrowing: %s", narrow.raw)
	}
	// The refresh token keeps the family's original scope.
	if back := e.refresh(t, narrow.str("refresh_token")); back.str("scope") != "profile orders:read" {
		t.Fatalf("after narrowing, default scope = %q, want the family's", back.str("scope"))
	}
}

// TestForgedTokenNeverRevokes tampers with a genuine token in every way a
// thief who knows its family id might: none of them may log the user out.
func TestForgedTokenNeverRevokes(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.refresh(t, e.login(t).str("refresh_token")).str("refresh_token") // generation 1
	raw, err := base64.RawURLEncoding.DecodeString(rt)
	if err != nil {
		t.Fatal(err)
	}
	mangle := func(f func(b []byte) []byte) string {
		b := append([]byte(nil), raw...)
		return base64.RawURLEncoding.EncodeToString(f(b))
	}
	forgeries := map[string]string{
		"older-generation-bad-mac": mangle(func(b []byte) []byte { b[17+3] = 0; return b }),
		"future-generation":        mangle(func(b []byte) []byte { b[17+3] = 9; return b }),
		"flipped-random":           mangle(func(b []byte) []byte { b[30] ^= 1; return b }),
		"flipped-mac":              mangle(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		"truncated":                rt[:len(rt)-4],
		"extended":                 rt + "AAAA",
	}
	e.clock.Advance(time.Minute)
	for name, tok := range forgeries {
		if r := e.refresh(t, tok); r.status != 400 || r.str("error") != "invalid_grant" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if r := e.refresh(t, rt); r.status != 200 {
		t.Fatalf("a forgery revoked the family: %d %s", r.status, r.raw)
	}
}

func TestRefreshLifetimes(t *testing.T) {
	e := newEnv(t, nil) // idle 24h, max 72h
	rt := e.login(t).str("refresh_token")
	e.clock.Advance(25 * time.Hour)
	if r := e.refresh(t, rt); r.status != 400 {
		t.Fatalf("refresh after idle TTL: %d", r.status)
	}
	rt = e.login(t).str("refresh_token")
	for range 3 { // used every 23h: never idle, but 69h old
		e.clock.Advance(23 * time.Hour)
		r := e.refresh(t, rt)
		if r.status != 200 {
			t.Fatalf("refresh within idle TTL: %d %s", r.status, r.raw)
		}
		rt = r.str("refresh_token")
	}
	e.clock.Advance(4 * time.Hour) // 73h after login
	if r := e.refresh(t, rt); r.status != 400 {
		t.Fatalf("refresh after max TTL: %d", r.status)
	}
}

func TestUserChangesRevokeFamilies(t *testing.T) {
	ctx := context.Background()
	for name, change := range map[string]func(*authserver.Users) error{
		"passwd":  func(u *authserver.Users) error { _, err := u.SetPassword(ctx, "alice", "another-password"); return err },
		"disable": func(u *authserver.Users) error { _, err := u.SetDisabled(ctx, "alice", true); return err },
		"delete":  func(u *authserver.Users) error { _, err := u.Delete(ctx, "alice"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			rt := e.login(t).str("refresh_token")
			if err := change(e.srv.Users()); err != nil {
				t.Fatal(err)
			}
			if r := e.refresh(t, rt); r.status != 400 {
				t.Fatalf("refresh after %s: %d %s", name, r.status, r.raw)
			}
			r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass), "")
			if r.status != 400 {
				t.Fatalf("login with the old password after %s: %d", name, r.status)
			}
		})
	}
}

func TestRevokeAndIntrospect(t *testing.T) {
	e := newEnv(t, func(o *authserver.Options) { o.Clients[1].Introspect = true })
	login := e.post(t, "/oauth2/token", form("grant_type", "password", "username", "alice", "password", alicePass), "web:"+webSecret)
	at, rt := login.str("access_token"), login.str("refresh_token")
	// web may introspect its own refresh tokens.
	introspect := func(tok string) response {
		return e.post(t, "/oauth2/introspect", form("token", tok), "web:"+webSecret)
	}
	if r := introspect(at); r.body["active"] != true || r.str("sub") != e.alice || r.str("client_id") != "web" || r.str("jti") == "" {
		t.Fatalf("introspect access token: %s", r.raw)
	}
	if r := introspect(rt); r.body["active"] != true || r.str("token_type") != "refresh_token" {
		t.Fatalf("introspect refresh token: %s", r.raw)
	}
	if r := e.post(t, "/oauth2/introspect", form("token", at, "client_id", "app"), ""); r.status != 401 {
		t.Fatalf("introspection by a public client: %d", r.status)
	}
	// Another client may not revoke web's tokens; the answer is still 200.
	if r := e.post(t, "/oauth2/revoke", form("token", rt), "svc:"+svcSecret); r.status != 200 {
		t.Fatalf("revoke by another client: %d", r.status)
	}
	if r := introspect(rt); r.body["active"] != true {
		t.Fatal("another client revoked the refresh token")
	}
	for _, tok := range []string{at, rt} {
		if r := e.post(t, "/oauth2/revoke", form("token", tok), "web:"+webSecret); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		if r := introspect(tok); r.raw != `{"active":false}`+"\n" {
			t.Fatalf("introspect revoked token = %q", r.raw)
		}
	}
	if r := e.post(t, "/oauth2/token", form("grant_type", "refresh_token", "refresh_token", rt), "web:"+webSecret); r.status != 400 {
		t.Fatalf("refresh of a revoked family: %d", r.status)
	}
	for _, junk := range []string{"junk", "a.b.c", rt + "x"} {
		if r := e.post(t, "/oauth2/revoke", form("token", junk), "web:"+webSecret); r.status != 200 {
			t.Errorf("revoke %q = %d, want 200", junk, r.status)
		}
		if r := introspect(junk); r.raw != `{"active":false}`+"\n" {
			t.Errorf("introspect %q = %s", junk, r.raw)
		}
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t, nil) // 5 failures per 15 minutes
	attempt := func(user, pw string) response {
		return e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", user, "password", pw), "")
	}
	for _, user := range []string{"alice", "nobody"} {
		for i := range 5 {
			if r := attempt(user, "wrong-password"); r.status != 400 {
				t.Fatalf("%s failure %d: %d %s", user, i, r.status, r.raw)
			}
		}
	}
	// Known and unknown users are locked out alike, the correct password
	// included.
	for _, user := range []string{"alice", "nobody"} {
		r := attempt(user, alicePass)
		if r.status != http.StatusTooManyRequests || r.str("error") != "invalid_grant" || r.header.Get("Retry-After") != "900" {
			t.Fatalf("%s while locked: %d %v %s", user, r.status, r.header.Get("Retry-After"), r.raw)
		}
	}
	e.clock.Advance(15 * time.Minute)
	if r := attempt("alice", alicePass); r.status != 200 {
		t.Fatalf("after the window: %d %s", r.status, r.raw)
	}
}

func TestRetryWithinGraceCannotWidenScope(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass, "scope", "profile"), "").str("refresh_token")
	if r := e.refresh(t, rt); r.status != 200 {
		t.Fatal(r.raw)
	}
	if r := e.refresh(t, rt, "scope", "profile orders:read"); r.status != 400 || r.str("error") != "invalid_scope" {
		t.Fatalf("widening retry: %d %s, want invalid_scope", r.status, r.raw)
	}
}

// TestLockoutPerIP spreads failures over many user names from one
// address: the per-IP limit stops the spray, whatever the name.
func TestLockoutPerIP(t *testing.T) {
	e := newEnv(t, func(o *authserver.Options) { o.Lockout.MaxFailuresPerIP = 3 })
	for _, user := range []string{"u1", "u2", "u3"} {
		if r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", user, "password", "wrong-password"), ""); r.status != 400 {
			t.Fatalf("%s: %d", user, r.status)
		}
	}
	r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass), "")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures from one IP: %d %s", r.status, r.raw)
	}
}
