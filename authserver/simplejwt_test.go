package authserver_test

import (
	"context"
	"testing"

	"github.com/oauthkit/authserver/authserver"
)

// TestSimpleJWTProfile: a client with token_profile simplejwt gets
// token_type "access" and user_id (a number for a Django integer pk) in
// its access tokens, at login and at refresh; other clients do not, and a
// user claim cannot override them.
func TestSimpleJWTProfile(t *testing.T) {
	e := newEnv(t, func(o *authserver.Options) {
		o.Clients = append(o.Clients,
			authserver.Client{ID: "drf", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"profile"}, TokenProfile: authserver.TokenProfileSimpleJWT},
			authserver.Client{ID: "drf-svc", SecretHash: mustHash(t, svcSecret), Grants: []string{"client_credentials"}, TokenProfile: authserver.TokenProfileSimpleJWT})
	})
	ctx := context.Background()
	for name, id := range map[string]string{"django42": "42", "djangouuid": "5b6fe7a0-uuid", "zero-padded": "042"} {
		if _, err := e.srv.Users().Add(ctx, name, alicePass, map[string]string{"user_id": id, "token_type": "refresh"}); err != nil {
			t.Fatal(err)
		}
	}
	login := func(client, user string) map[string]any {
		t.Helper()
		r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", client, "username", user, "password", alicePass), "")
		if r.status != 200 {
			t.Fatalf("login %s via %s: %d %s", user, client, r.status, r.raw)
		}
		_, claims := e.verifyToken(t, r.str("access_token"))
		if client == "drf" {
			rr := e.post(t, "/oauth2/token", form("grant_type", "refresh_token", "client_id", client, "refresh_token", r.str("refresh_token")), "")
			_, refreshed := e.verifyToken(t, rr.str("access_token"))
			if refreshed["user_id"] != claims["user_id"] || refreshed["token_type"] != "access" {
				t.Errorf("after a refresh: %v", refreshed)
			}
		}
		return claims
	}
	tests := []struct {
		client, user string
		tokenType    any
		userID       any
	}{
		{"drf", "django42", "access", float64(42)},
		{"drf", "djangouuid", "access", "5b6fe7a0-uuid"},
		{"drf", "zero-padded", "access", "042"},
		{"drf", "alice", "access", nil},
		{"app", "django42", "refresh", "42"},
	}
	for _, tc := range tests {
		t.Run(tc.client+"-"+tc.user, func(t *testing.T) {
			claims := login(tc.client, tc.user)
			if claims["token_type"] != tc.tokenType || claims["user_id"] != tc.userID {
				t.Errorf("token_type = %v, user_id = %#v; want %v, %#v", claims["token_type"], claims["user_id"], tc.tokenType, tc.userID)
			}
		})
	}
	r := e.post(t, "/oauth2/token", form("grant_type", "client_credentials"), "drf-svc:"+svcSecret)
	_, claims := e.verifyToken(t, r.str("access_token"))
	if _, ok := claims["user_id"]; ok || claims["token_type"] != "access" {
		t.Errorf("client_credentials with the profile: %v", claims)
	}
}
