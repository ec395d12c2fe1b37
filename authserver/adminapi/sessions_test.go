package adminapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// refreshWorks reports whether a refresh token still refreshes.
func (e *env) refreshWorks(t testing.TB, client, rt string) bool {
	t.Helper()
	resp, err := http.PostForm(e.url+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {client}, "refresh_token": {rt}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestAdminSessions lists a user's sessions, revokes one, then the rest;
// a session of another user cannot be revoked through this one.
func TestAdminSessions(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		one := e.login(t, "app", "alice", alicePass, "")
		two := e.login(t, "web", "alice", alicePass, "")
		bobID := e.createUser(t, admin, "bob")
		bob := e.login(t, "app", "bob", "password-bob", "")
		sessions := path("/admin/v1/users/%s/sessions", e.alice)
		list := e.do(t, req{method: "GET", path: sessions, token: admin}).want(t, http.StatusOK, "")
		ss := list.body["sessions"].([]any)
		if len(ss) != 2 {
			t.Fatalf("sessions: %s", list.raw)
		}
		first := ss[0].(map[string]any)
		if first["client_id"] != "app" || first["created"] == "" || first["last_refreshed"] == "" {
			t.Fatalf("session: %v", first)
		}
		bobs := e.do(t, req{method: "GET", path: path("/admin/v1/users/%s/sessions", bobID), token: admin}).body["sessions"].([]any)
		bobFamily := bobs[0].(map[string]any)["id"].(string)
		e.do(t, req{method: "DELETE", path: sessions + "/" + url.PathEscape(bobFamily), token: admin}).want(t, http.StatusNotFound, "not-found")
		if !e.refreshWorks(t, "app", bob["refresh_token"].(string)) {
			t.Fatal("bob's session died through alice's route")
		}
		e.do(t, req{method: "DELETE", path: sessions + "/" + url.PathEscape(first["id"].(string)), token: admin}).want(t, http.StatusNoContent, "")
		if e.refreshWorks(t, "app", one["refresh_token"].(string)) {
			t.Fatal("the revoked session still refreshes")
		}
		all := e.do(t, req{method: "DELETE", path: sessions, token: admin}).want(t, http.StatusOK, "")
		if all.body["sessions_revoked"] != float64(1) || e.refreshWorks(t, "web", two["refresh_token"].(string)) {
			t.Fatalf("revoke all: %s", all.raw)
		}
		if !strings.Contains(e.audit.String(), `"event":"family_revoked","by":"admin_api","client_id":"admin"`) ||
			!strings.Contains(e.audit.String(), `"event":"user_sessions_revoked","by":"admin_api","client_id":"admin"`) {
			t.Fatal("session revocations not audited")
		}
		e.do(t, req{method: "GET", path: "/admin/v1/users/u_nobody/sessions", token: admin}).want(t, http.StatusNotFound, "not-found")
	})
}

// TestAdminKeys rotates (staged and now), retires and revokes keys over
// the API, under the key lifecycle's own rules.
func TestAdminKeys(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		keysOf := func(r response) map[string]string {
			out := map[string]string{}
			for _, k := range r.body["keys"].([]any) {
				k := k.(map[string]any)
				out[k["kid"].(string)] = k["state"].(string)
			}
			return out
		}
		before := keysOf(e.do(t, req{method: "GET", path: "/admin/v1/keys", token: admin}).want(t, http.StatusOK, ""))
		var active string
		for kid, st := range before {
			if st == "active" {
				active = kid
			}
		}
		if len(before) != 1 || active == "" {
			t.Fatalf("keys: %v", before)
		}
		// The last signing key cannot be retired: nothing would sign.
		e.do(t, req{method: "POST", path: path("/admin/v1/keys/%s/retire", active), token: admin}).want(t, http.StatusConflict, "key-transition")
		staged := keysOf(e.do(t, req{method: "POST", path: "/admin/v1/keys/rotate", token: admin}).want(t, http.StatusCreated, ""))
		if len(staged) != 2 || staged[active] != "active" {
			t.Fatalf("staged rotation: %v", staged)
		}
		now := keysOf(e.do(t, req{method: "POST", path: "/admin/v1/keys/rotate", token: admin, body: map[string]any{"now": true}}).want(t, http.StatusCreated, ""))
		if len(now) != 3 || now[active] == "active" {
			t.Fatalf("immediate rotation: %v", now)
		}
		e.do(t, req{method: "POST", path: "/admin/v1/keys/rotate", token: admin, body: `{"later":true}`}).want(t, http.StatusBadRequest, "malformed-request")
		var next string
		for kid, st := range now {
			if st == "next" {
				next = kid
			}
		}
		if now[active] != "retired" || next == "" {
			t.Fatalf("after the immediate rotation: %v", now)
		}
		retired := keysOf(e.do(t, req{method: "POST", path: path("/admin/v1/keys/%s/retire", next), token: admin}).want(t, http.StatusOK, ""))
		if retired[next] != "retired" {
			t.Fatalf("retire: %v", retired)
		}
		e.do(t, req{method: "POST", path: path("/admin/v1/keys/%s/retire", active), token: admin}).want(t, http.StatusConflict, "key-transition")
		revoked := keysOf(e.do(t, req{method: "POST", path: path("/admin/v1/keys/%s/revoke", active), token: admin}).want(t, http.StatusOK, ""))
		if _, ok := revoked[active]; ok {
			t.Fatalf("revoked key still listed: %v", revoked)
		}
		// The admin token was signed by the revoked key: it is dead now.
		e.do(t, req{method: "GET", path: "/admin/v1/keys", token: admin}).want(t, http.StatusUnauthorized, "unauthorized")
		admin = e.clientToken(t, "admin", "")
		// Revoking the active key promotes a successor: something signs.
		for kid, st := range revoked {
			if st == "active" {
				e.do(t, req{method: "POST", path: path("/admin/v1/keys/%s/revoke", kid), token: admin}).want(t, http.StatusOK, "")
			}
		}
		e.do(t, req{method: "GET", path: "/admin/v1/keys", token: e.clientToken(t, "admin", "")}).want(t, http.StatusOK, "")
		if !strings.Contains(e.audit.String(), `"event":"key_revoke_requested","by":"admin_api","client_id":"admin"`) {
			t.Fatal("key revocation not audited")
		}
	})
}
