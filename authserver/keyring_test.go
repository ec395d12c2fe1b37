package authserver_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/password"
)

// replica builds a second server over e's store and signing keys whose
// refresh-token keyring is current plus previous (keys.encryption_key and
// keys.previous_encryption_keys), and returns a function that redeems a
// refresh token there for the public client.
func (e *env) replica(t *testing.T, current []byte, previous ...[]byte) func(token string) response {
	t.Helper()
	derive := func(kek []byte) []byte {
		k, err := authserver.DeriveRefreshKey(kek)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	var prev [][]byte
	for _, p := range previous {
		prev = append(prev, derive(p))
	}
	hasher, err := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authserver.New(authserver.Options{
		Issuer: e.http.URL, AccessTTL: 15 * time.Minute,
		RefreshIdleTTL: 24 * time.Hour, RefreshMaxTTL: 72 * time.Hour, RefreshReuseGrace: 10 * time.Second,
		Audience: []string{"api"},
		Clients:  []authserver.Client{{ID: "app", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"profile", "orders:read"}}},
		Lockout:  authserver.Lockout{MaxFailures: 5, MaxFailuresPerIP: 100, Window: time.Minute},
		Store:    e.store, Signer: e.keys, Hasher: hasher, Now: e.clock.Now, Logger: quietLog,
		RefreshKey: derive(current), PreviousRefreshKeys: prev,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return func(token string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, hs.URL+"/oauth2/token", strings.NewReader(form("grant_type", "refresh_token", "client_id", "app", "refresh_token", token).Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return e.do(t, req)
	}
}

// TestRefreshKeyring follows refresh tokens across a rotation of
// keys.encryption_key from K1 to K2, through replicas with the rings of
// each step: a token issued under K1 is accepted wherever K1 is in the
// ring and its refresh issues the successor under K2; a ring that lacks
// the key of a token refuses it as forged, which never revokes the
// family.
func TestRefreshKeyring(t *testing.T) {
	k1 := sharedKEK
	k2 := bytes.Repeat([]byte{0x42}, 32)
	e := newEnv(t, nil)
	step1 := e.replica(t, k1, k2) // K2 known, K1 still issues
	step2 := e.replica(t, k2, k1) // K2 issues, K1 still verifies
	final := e.replica(t, k2)     // K1 removed

	rt1 := e.login(t).str("refresh_token") // under K1
	r := step1(rt1)
	if r.status != http.StatusOK {
		t.Fatalf("K1 token at [K1,K2]: %d %s", r.status, r.raw)
	}
	rt1 = r.str("refresh_token") // still under K1
	r = step2(rt1)
	if r.status != http.StatusOK {
		t.Fatalf("K1 token at [K2,K1]: %d %s", r.status, r.raw)
	}
	rt2 := r.str("refresh_token") // under K2
	// [K1,K2] accepts it but issues under K1 again: it comes first, and
	// the last refresh, at [K2], issues under K2.
	for i, redeem := range []func(string) response{step1, step2, final} {
		e.clock.Advance(time.Minute)
		r := redeem(rt2)
		if r.status != http.StatusOK {
			t.Fatalf("refresh %d of the K2 family: %d %s", i, r.status, r.raw)
		}
		rt2 = r.str("refresh_token")
	}

	// Out of order: a [K1] replica meets a K2 token, a [K2] replica a K1
	// token. Both refuse it as not theirs, and the family lives on.
	idle := e.login(t).str("refresh_token")
	if r := final(idle); r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("K1 token at [K2]: %d %s, want 400 invalid_grant", r.status, r.raw)
	}
	if r := e.refresh(t, rt2); r.status != http.StatusBadRequest {
		t.Errorf("K2 token at [K1]: %d %s, want 400", r.status, r.raw)
	}
	e.clock.Advance(time.Minute)
	if r := step2(rt2); r.status != http.StatusOK {
		t.Errorf("the K2 family after a [K1] replica refused its token: %d %s", r.status, r.raw)
	}
	if r := e.refresh(t, idle); r.status != http.StatusOK {
		t.Errorf("the K1 family after a [K2] replica refused its token: %d %s", r.status, r.raw)
	}
}
