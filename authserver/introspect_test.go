package authserver_test

import (
	"net/http"
	"testing"

	"github.com/oauthkit/authserver/authserver"
)

// TestIntrospectionPermission: only confidential clients with the
// introspect permission may introspect; they see access tokens of every
// client but refresh tokens of their own only.
func TestIntrospectionPermission(t *testing.T) {
	e := newEnv(t, func(o *authserver.Options) {
		o.Clients = append(o.Clients,
			authserver.Client{ID: "rs", SecretHash: mustHash(t, svcSecret), Grants: []string{"password", "refresh_token"}, Scopes: []string{"profile"}, Introspect: true})
	})
	web := e.post(t, "/oauth2/token", form("grant_type", "password", "username", "alice", "password", alicePass), "web:"+webSecret)
	rs := e.post(t, "/oauth2/token", form("grant_type", "password", "username", "alice", "password", alicePass), "rs:"+svcSecret)
	inactive := `{"active":false}` + "\n"
	tests := []struct {
		name       string
		token      string
		basic      string
		form       []string
		wantStatus int
		wantActive bool // else exactly {"active":false} when 200
	}{
		{name: "no-permission", token: web.str("access_token"), basic: "web:" + webSecret, wantStatus: http.StatusUnauthorized},
		{name: "no-permission-own-refresh", token: web.str("refresh_token"), basic: "web:" + webSecret, wantStatus: http.StatusUnauthorized},
		{name: "public-client", token: web.str("access_token"), form: []string{"client_id", "app"}, wantStatus: http.StatusUnauthorized},
		{name: "access-token-of-another-client", token: web.str("access_token"), basic: "svc:" + svcSecret, wantStatus: 200, wantActive: true},
		{name: "refresh-token-of-another-client", token: web.str("refresh_token"), basic: "svc:" + svcSecret, wantStatus: 200},
		{name: "refresh-token-of-another-client-by-rs", token: web.str("refresh_token"), basic: "rs:" + svcSecret, wantStatus: 200},
		{name: "own-refresh-token", token: rs.str("refresh_token"), basic: "rs:" + svcSecret, wantStatus: 200, wantActive: true},
		{name: "own-access-token", token: rs.str("access_token"), basic: "rs:" + svcSecret, wantStatus: 200, wantActive: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, "/oauth2/introspect", form(append([]string{"token", tc.token}, tc.form...)...), tc.basic)
			if r.status != tc.wantStatus {
				t.Fatalf("got %d %s, want %d", r.status, r.raw, tc.wantStatus)
			}
			switch {
			case r.status == http.StatusUnauthorized:
				if r.str("error") != "invalid_client" || (tc.basic != "") != (r.header.Get("WWW-Authenticate") != "") {
					t.Errorf("refusal = %s, WWW-Authenticate %q", r.raw, r.header.Get("WWW-Authenticate"))
				}
			case tc.wantActive:
				if r.body["active"] != true || r.str("sub") != e.alice {
					t.Errorf("got %s, want an active answer", r.raw)
				}
			case r.raw != inactive:
				t.Errorf("got %q, want exactly %q", r.raw, inactive)
			}
		})
	}
}
