package adminapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAccount is a signed-in user's own lifecycle: profile, sessions,
// logging one out, changing the password (the other sessions end, the
// caller's continues with the tokens in the answer), logging out
// everywhere.
func TestAccount(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		bobID := e.createUser(t, admin, "bob")
		bob := e.login(t, "app", "bob", "password-bob", "")
		mine := e.login(t, "web", "alice", alicePass, "")
		other := e.login(t, "app", "alice", alicePass, "")
		third := e.login(t, "app", "alice", alicePass, "")
		tok := mine["access_token"].(string)

		p := e.do(t, req{method: "GET", path: "/account/v1/profile", token: tok}).want(t, http.StatusOK, "")
		if p.str("id") != e.alice || p.str("name") != "alice" || p.body["claims"].(map[string]any)["email"] != "alice@example.test" {
			t.Fatalf("profile: %s", p.raw)
		}
		ss := e.do(t, req{method: "GET", path: "/account/v1/sessions", token: tok}).want(t, http.StatusOK, "").body["sessions"].([]any)
		if len(ss) != 3 {
			t.Fatalf("own sessions: %v", ss)
		}
		bobFamily := e.do(t, req{method: "GET", path: path("/admin/v1/users/%s/sessions", bobID), token: admin}).body["sessions"].([]any)[0].(map[string]any)["id"].(string)
		e.do(t, req{method: "DELETE", path: "/account/v1/sessions/" + url.PathEscape(bobFamily), token: tok}).want(t, http.StatusNotFound, "not-found")
		if !e.refreshWorks(t, "app", bob["refresh_token"].(string)) {
			t.Fatal("alice logged bob out")
		}
		// The third login is the newest session.
		thirdID := ss[2].(map[string]any)["id"].(string)
		e.do(t, req{method: "DELETE", path: "/account/v1/sessions/" + url.PathEscape(thirdID), token: tok}).want(t, http.StatusNoContent, "")
		if e.refreshWorks(t, "app", third["refresh_token"].(string)) {
			t.Fatal("the logged-out session still refreshes")
		}

		changed := e.do(t, req{method: "POST", path: "/account/v1/password", token: tok,
			body: map[string]any{"current_password": alicePass, "new_password": "alice-new-password"}}).want(t, http.StatusOK, "")
		if changed.body["sessions_revoked"] != float64(2) || changed.str("refresh_token") == "" || changed.str("access_token") == "" || changed.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("change: %s", changed.raw)
		}
		if e.refreshWorks(t, "app", other["refresh_token"].(string)) || e.refreshWorks(t, "web", mine["refresh_token"].(string)) {
			t.Fatal("a session from before the change still refreshes")
		}
		if !e.refreshWorks(t, "web", changed.str("refresh_token")) {
			t.Fatal("the caller's continued session does not refresh")
		}
		e.do(t, req{method: "GET", path: "/account/v1/profile", token: changed.str("access_token")}).want(t, http.StatusOK, "")
		e.login(t, "app", "alice", "alice-new-password", "")

		all := e.do(t, req{method: "DELETE", path: "/account/v1/sessions", token: tok}).want(t, http.StatusOK, "")
		if all.body["sessions_revoked"] != float64(2) {
			t.Fatalf("logout everywhere: %s", all.raw)
		}
		log := e.audit.String()
		for _, ev := range []string{"account_session_revoked", "account_password_changed", "account_sessions_revoked"} {
			if !strings.Contains(log, `"event":"`+ev+`","client_id":"web","user_id":"`+e.alice+`"`) {
				t.Errorf("no audit event %s naming the client and the user", ev)
			}
		}
		for _, secret := range []string{alicePass, "alice-new-password", changed.str("refresh_token"), changed.str("access_token")} {
			if strings.Contains(log, secret) {
				t.Fatalf("the log holds a password or token")
			}
		}
	})
}

// TestAccountPasswordLockout checks that the current password goes
// through the login lockout, and that the errors have their own types.
func TestAccountPasswordLockout(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		tok := e.login(t, "web", "alice", alicePass, "")["access_token"].(string)
		change := func(current, next string) response {
			return e.do(t, req{method: "POST", path: "/account/v1/password", token: tok,
				body: map[string]any{"current_password": current, "new_password": next}})
		}
		change(alicePass, "short").want(t, http.StatusUnprocessableEntity, "invalid-user")
		e.do(t, req{method: "POST", path: "/account/v1/password", token: tok, body: `{"current_password":"x","new_password":"y","also":1}`}).want(t, http.StatusBadRequest, "malformed-request")
		for range 3 {
			change("wrong-password", "alice-new-password").want(t, http.StatusForbidden, "wrong-password")
		}
		locked := change(alicePass, "alice-new-password").want(t, http.StatusTooManyRequests, "locked-out")
		if locked.header.Get("Retry-After") == "" {
			t.Fatal("locked out without Retry-After")
		}
		admin := e.clientToken(t, "admin", "")
		e.do(t, req{method: "POST", path: path("/admin/v1/users/%s/unlock", e.alice), token: admin}).want(t, http.StatusNoContent, "")
		change(alicePass, "alice-new-password").want(t, http.StatusOK, "")
		// A deleted user's token, still valid, finds no account.
		e.do(t, req{method: "DELETE", path: path("/admin/v1/users/%s", e.alice), token: admin, header: map[string]string{"If-Match": "*"}}).want(t, http.StatusNoContent, "")
		e.do(t, req{method: "GET", path: "/account/v1/profile", token: tok}).want(t, http.StatusNotFound, "not-found")
		e.do(t, req{method: "GET", path: "/account/v1/sessions", token: tok}).want(t, http.StatusNotFound, "not-found")
	})
}
