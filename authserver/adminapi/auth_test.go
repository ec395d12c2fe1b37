package adminapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/authserver/adminapi"
)

// TestScopes sends every admin route a token with every scope but the
// one it requires, and a token with only that one.
func TestScopes(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		all := []string{adminapi.ScopeUsersRead, adminapi.ScopeUsersWrite, adminapi.ScopeSessions, adminapi.ScopeKeys}
		tokens := map[string]string{} // scope → a token with every other scope
		only := map[string]string{}   // scope → a token with that scope alone
		for _, s := range all {
			var others []string
			for _, o := range all {
				if o != s {
					others = append(others, o)
				}
			}
			tokens[s] = e.clientToken(t, "admin", strings.Join(others, " "))
			only[s] = e.clientToken(t, "admin", s)
		}
		u := path("/admin/v1/users/%s", e.alice)
		tests := []struct {
			rq    req
			scope string
			ok    int
		}{
			{req{method: "GET", path: "/admin/v1/users"}, adminapi.ScopeUsersRead, 200},
			{req{method: "GET", path: u}, adminapi.ScopeUsersRead, 200},
			{req{method: "GET", path: "/admin/v1/usernames/alice"}, adminapi.ScopeUsersRead, 200},
			{req{method: "POST", path: "/admin/v1/users", body: map[string]any{"name": "scoped", "password": "long-enough"}}, adminapi.ScopeUsersWrite, 201},
			{req{method: "PUT", path: u + "/claims", header: map[string]string{"If-Match": "*"}, body: map[string]any{"claims": map[string]string{}}}, adminapi.ScopeUsersWrite, 200},
			{req{method: "PUT", path: u + "/password", header: map[string]string{"If-Match": "*"}, body: map[string]any{"password": alicePass}}, adminapi.ScopeUsersWrite, 200},
			{req{method: "POST", path: u + "/disable", header: map[string]string{"If-Match": "*"}}, adminapi.ScopeUsersWrite, 200},
			{req{method: "POST", path: u + "/enable", header: map[string]string{"If-Match": "*"}}, adminapi.ScopeUsersWrite, 200},
			{req{method: "POST", path: u + "/unlock"}, adminapi.ScopeUsersWrite, 204},
			{req{method: "GET", path: u + "/sessions"}, adminapi.ScopeSessions, 200},
			{req{method: "DELETE", path: u + "/sessions"}, adminapi.ScopeSessions, 200},
			{req{method: "DELETE", path: u + "/sessions/nosuchfamily"}, adminapi.ScopeSessions, 404},
			{req{method: "GET", path: "/admin/v1/keys"}, adminapi.ScopeKeys, 200},
			{req{method: "POST", path: "/admin/v1/keys/nosuchkey/retire"}, adminapi.ScopeKeys, 404},
			{req{method: "POST", path: "/admin/v1/keys/nosuchkey/revoke"}, adminapi.ScopeKeys, 404},
			{req{method: "DELETE", path: "/admin/v1/users/u_nobody", header: map[string]string{"If-Match": "*"}}, adminapi.ScopeUsersWrite, 404},
		}
		for _, tc := range tests {
			t.Run(tc.rq.method+tc.rq.path, func(t *testing.T) {
				rq := tc.rq
				rq.token = tokens[tc.scope]
				e.do(t, rq).want(t, http.StatusForbidden, "insufficient-scope")
				rq.token = only[tc.scope]
				if r := e.do(t, rq); r.status != tc.ok {
					t.Fatalf("with %s: %d %s", tc.scope, r.status, r.raw)
				}
			})
		}
	})
}

// TestTokenKinds checks who may call which API: no token, a forged or
// revoked one, one for another audience, a user's token on the admin API
// (even with admin scopes), a client's token on the account API.
func TestTokenKinds(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		user := e.userToken(t) // app's user tokens carry every admin scope
		elsewhere := e.clientToken(t, "elsewhere", "")
		revoked := e.clientToken(t, "admin", "")
		resp, err := http.PostForm(e.url+"/oauth2/revoke", url.Values{"token": {revoked}, "client_id": {"admin"}, "client_secret": {adminSecret}})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("revoke: %v %v", resp, err)
		}
		resp.Body.Close()
		forged := admin[:len(admin)-4] + "AAAA"
		tests := []struct {
			name   string
			rq     req
			status int
			kind   string
		}{
			{"admin-no-token", req{method: "GET", path: "/admin/v1/users"}, 401, "unauthorized"},
			{"admin-basic", req{method: "GET", path: "/admin/v1/users", header: map[string]string{"Authorization": "Basic YWRtaW46eA=="}}, 401, "unauthorized"},
			{"admin-forged", req{method: "GET", path: "/admin/v1/users", token: forged}, 401, "unauthorized"},
			{"admin-garbage", req{method: "GET", path: "/admin/v1/users", token: "not.a.token"}, 401, "unauthorized"},
			{"admin-revoked", req{method: "GET", path: "/admin/v1/users", token: revoked}, 401, "unauthorized"},
			{"admin-other-audience", req{method: "GET", path: "/admin/v1/users", token: elsewhere}, 401, "unauthorized"},
			{"admin-user-token", req{method: "GET", path: "/admin/v1/users", token: user}, 403, "wrong-token-kind"},
			{"admin-user-token-write", req{method: "POST", path: "/admin/v1/users", token: user, body: map[string]any{"name": "eve", "password": "long-enough"}}, 403, "wrong-token-kind"},
			{"account-no-token", req{method: "GET", path: "/account/v1/profile"}, 401, "unauthorized"},
			{"account-admin-token", req{method: "GET", path: "/account/v1/profile", token: admin}, 403, "wrong-token-kind"},
			{"account-admin-token-logout", req{method: "DELETE", path: "/account/v1/sessions", token: admin}, 403, "wrong-token-kind"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(t, tc.rq).want(t, tc.status, tc.kind)
				if tc.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("401 without a Bearer challenge: %v", r.header)
				}
			})
		}
		if r := e.do(t, req{method: "GET", path: "/admin/v1/usernames/eve", token: admin}); r.status != 404 {
			t.Fatalf("a user token created a user: %s", r.raw)
		}
		// A user token without the account scope reaches no account route.
		noAccount := e.login(t, "app", "alice", alicePass, "profile")["access_token"].(string)
		for _, rq := range []req{
			{method: "GET", path: "/account/v1/profile"},
			{method: "POST", path: "/account/v1/password", body: map[string]any{"current_password": alicePass, "new_password": "another-password"}},
			{method: "GET", path: "/account/v1/sessions"},
			{method: "DELETE", path: "/account/v1/sessions"},
			{method: "DELETE", path: "/account/v1/sessions/somefamily"},
		} {
			rq.token = noAccount
			e.do(t, rq).want(t, 403, "insufficient-scope")
		}
		e.login(t, "app", "alice", alicePass, "")
	})
}
