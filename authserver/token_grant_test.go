package authserver_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/oauthkit/authserver/authserver"
)

// TestNoRefreshTokenWithoutRefreshGrant: a client that may not use the
// refresh_token grant gets an access token alone from a password login,
// and no family is created for it.
func TestNoRefreshTokenWithoutRefreshGrant(t *testing.T) {
	e := newEnv(t, func(o *authserver.Options) {
		o.Clients = append(o.Clients, authserver.Client{ID: "kiosk", Public: true, Grants: []string{"password"}, Scopes: []string{"profile"}})
	})
	r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "kiosk", "username", "alice", "password", alicePass), "")
	if r.status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	if _, ok := r.body["refresh_token"]; ok {
		t.Errorf("a client without the refresh_token grant got a refresh token: %s", r.raw)
	}
	fams, err := e.store.ListFamilies(context.Background(), e.alice, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 0 {
		t.Errorf("%d families created for a client without the refresh_token grant", len(fams))
	}
	// A client with the grant still gets both.
	if rt := e.login(t).str("refresh_token"); rt == "" {
		t.Error("app got no refresh token")
	}
}
