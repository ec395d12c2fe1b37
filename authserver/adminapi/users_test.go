package adminapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/oauthkit/authserver/authserver/password"
)

// TestUserLifecycle runs an app's whole user lifecycle over HTTP: create,
// read by id and by name, update claims, log in, change the password,
// disable, enable, unlock, delete.
func TestUserLifecycle(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		r := e.do(t, req{method: "POST", path: "/admin/v1/users", token: admin,
			body: map[string]any{"name": "bob", "password": "bob-password", "claims": map[string]string{"email": "bob@example.test"}}})
		r.want(t, http.StatusCreated, "")
		id := r.str("id")
		if r.str("name") != "bob" || r.header.Get("Location") != "/admin/v1/users/"+id || r.header.Get("ETag") == "" {
			t.Fatalf("create: %v %v", r.header, r.raw)
		}
		if strings.Contains(r.raw, "argon2") || strings.Contains(r.raw, "bob-password") {
			t.Fatalf("create answered a password or hash: %s", r.raw)
		}
		got := e.do(t, req{method: "GET", path: path("/admin/v1/users/%s", id), token: admin}).want(t, http.StatusOK, "")
		byName := e.do(t, req{method: "GET", path: "/admin/v1/usernames/bob", token: admin}).want(t, http.StatusOK, "")
		if got.raw != byName.raw || got.header.Get("ETag") != r.header.Get("ETag") {
			t.Fatalf("by id %s / by name %s", got.raw, byName.raw)
		}
		e.login(t, "app", "bob", "bob-password", "")

		etag := got.header.Get("ETag")
		up := e.do(t, req{method: "PUT", path: path("/admin/v1/users/%s/claims", id), token: admin,
			header: map[string]string{"If-Match": etag}, body: map[string]any{"claims": map[string]string{"role": "buyer"}}}).want(t, http.StatusOK, "")
		if up.body["claims"].(map[string]any)["role"] != "buyer" || up.header.Get("ETag") == etag {
			t.Fatalf("update: %v %s", up.header, up.raw)
		}

		e.login(t, "app", "bob", "bob-password", "")
		etag = up.header.Get("ETag")
		pw := e.do(t, req{method: "PUT", path: path("/admin/v1/users/%s/password", id), token: admin,
			header: map[string]string{"If-Match": etag}, body: map[string]any{"password": "new-bob-password"}}).want(t, http.StatusOK, "")
		if pw.body["sessions_revoked"] != float64(2) {
			t.Fatalf("password change revoked %v, want the 2 logins", pw.body)
		}
		e.login(t, "app", "bob", "new-bob-password", "")

		// The version read before the password change is stale now.
		e.do(t, req{method: "POST", path: path("/admin/v1/users/%s/disable", id), token: admin,
			header: map[string]string{"If-Match": etag}}).want(t, http.StatusPreconditionFailed, "precondition-failed")
		dis := e.do(t, req{method: "POST", path: path("/admin/v1/users/%s/disable", id), token: admin,
			header: map[string]string{"If-Match": e.etag(t, admin, id)}}).want(t, http.StatusOK, "")
		if dis.body["sessions_revoked"] != float64(1) {
			t.Fatalf("disable: %s", dis.raw)
		}
		if g := e.do(t, req{method: "GET", path: path("/admin/v1/users/%s", id), token: admin}); g.body["disabled"] != true {
			t.Fatalf("after disable: %s", g.raw)
		}
		e.do(t, req{method: "POST", path: path("/admin/v1/users/%s/enable", id), token: admin,
			header: map[string]string{"If-Match": "*"}}).want(t, http.StatusOK, "")
		e.login(t, "app", "bob", "new-bob-password", "")
		e.do(t, req{method: "POST", path: path("/admin/v1/users/%s/unlock", id), token: admin}).want(t, http.StatusNoContent, "")

		e.do(t, req{method: "DELETE", path: path("/admin/v1/users/%s", id), token: admin,
			header: map[string]string{"If-Match": e.etag(t, admin, id)}}).want(t, http.StatusNoContent, "")
		e.do(t, req{method: "GET", path: path("/admin/v1/users/%s", id), token: admin}).want(t, http.StatusNotFound, "not-found")
		e.do(t, req{method: "DELETE", path: path("/admin/v1/users/%s", id), token: admin,
			header: map[string]string{"If-Match": "*"}}).want(t, http.StatusNotFound, "not-found")

		for _, ev := range []string{"user_created", "user_claims_updated", "user_password_changed", "user_disabled", "user_enabled", "user_unlocked", "user_deleted"} {
			if !strings.Contains(e.audit.String(), `"event":"`+ev+`","by":"admin_api","client_id":"admin"`) {
				t.Errorf("no audit event %s by the admin client", ev)
			}
		}
		for _, secret := range []string{"bob-password", "new-bob-password", "$argon2id$"} {
			if strings.Contains(e.audit.String(), secret) {
				t.Fatalf("the log holds %q", secret)
			}
		}
	})
}

// TestCreateUserPrehashed creates a user with a hash made elsewhere, who
// then logs in with the password.
func TestCreateUserPrehashed(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		h, err := password.NewHasher(password.Params{Memory: 128, Iterations: 1, Parallelism: 1}, 1)
		if err != nil {
			t.Fatal(err)
		}
		hash, err := h.Hash(context.Background(), "migrated-password")
		if err != nil {
			t.Fatal(err)
		}
		e.do(t, req{method: "POST", path: "/admin/v1/users", token: admin, body: map[string]any{"name": "carol/ops", "password_hash": hash}}).want(t, http.StatusCreated, "")
		e.login(t, "app", "carol/ops", "migrated-password", "")
		// A name with a slash is one path segment, escaped.
		if r := e.do(t, req{method: "GET", path: path("/admin/v1/usernames/%s", "carol/ops"), token: admin}); r.status != 200 || r.str("name") != "carol/ops" {
			t.Fatalf("by name: %d %s", r.status, r.raw)
		}
		if strings.Contains(e.audit.String(), hash) {
			t.Fatal("the log holds the hash")
		}
	})
}

// TestUserErrors checks each error of the user routes: its status and
// its stable problem type.
func TestUserErrors(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		alice := path("/admin/v1/users/%s", e.alice)
		before := e.do(t, req{method: "GET", path: alice, token: admin}).want(t, http.StatusOK, "")
		stale := map[string]string{"If-Match": `"stale"`}
		tests := []struct {
			name   string
			rq     req
			status int
			kind   string
		}{
			{"unknown-field", req{method: "POST", path: "/admin/v1/users", body: `{"name":"x","password":"long-enough","admin":true}`}, 400, "malformed-request"},
			{"not-json", req{method: "POST", path: "/admin/v1/users", body: `{"name":`}, 400, "malformed-request"},
			{"two-values", req{method: "POST", path: "/admin/v1/users", body: `{"name":"x","password":"long-enough"} {}`}, 400, "malformed-request"},
			{"wrong-type", req{method: "POST", path: "/admin/v1/users", body: `{"name":1,"password":"long-enough"}`}, 400, "malformed-request"},
			{"too-large", req{method: "POST", path: "/admin/v1/users", body: `{"name":"` + strings.Repeat("x", 70<<10) + `"}`}, 413, "body-too-large"},
			{"not-json-type", req{method: "POST", path: "/admin/v1/users", body: `name=x`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported-media-type"},
			{"short-password", req{method: "POST", path: "/admin/v1/users", body: map[string]any{"name": "x", "password": "short"}}, 422, "invalid-user"},
			{"no-password", req{method: "POST", path: "/admin/v1/users", body: map[string]any{"name": "x"}}, 422, "invalid-user"},
			{"both-passwords", req{method: "POST", path: "/admin/v1/users", body: map[string]any{"name": "x", "password": "long-enough", "password_hash": "x"}}, 422, "invalid-user"},
			{"bad-hash", req{method: "POST", path: "/admin/v1/users", body: map[string]any{"name": "x", "password_hash": "md5$abc"}}, 422, "invalid-user"},
			{"reserved-claim", req{method: "POST", path: "/admin/v1/users", body: map[string]any{"name": "x", "password": "long-enough", "claims": map[string]string{"sub": "root"}}}, 422, "invalid-user"},
			{"bad-name", req{method: "POST", path: "/admin/v1/users", body: map[string]any{"name": "a b", "password": "long-enough"}}, 422, "invalid-user"},
			{"exists", req{method: "POST", path: "/admin/v1/users", body: map[string]any{"name": "alice", "password": "long-enough"}}, 409, "already-exists"},
			{"unknown-id", req{method: "GET", path: "/admin/v1/users/u_nobody"}, 404, "not-found"},
			{"unknown-name", req{method: "GET", path: "/admin/v1/usernames/nobody"}, 404, "not-found"},
			{"claims-without-if-match", req{method: "PUT", path: alice + "/claims", body: map[string]any{"claims": map[string]string{}}}, 428, "precondition-required"},
			{"claims-stale-if-match", req{method: "PUT", path: alice + "/claims", header: map[string]string{"If-Match": `"stale"`}, body: map[string]any{"claims": map[string]string{}}}, 412, "precondition-failed"},
			{"password-without-if-match", req{method: "PUT", path: alice + "/password", body: map[string]any{"password": "long-enough"}}, 428, "precondition-required"},
			{"password-stale-if-match", req{method: "PUT", path: alice + "/password", header: stale, body: map[string]any{"password": "long-enough"}}, 412, "precondition-failed"},
			{"disable-without-if-match", req{method: "POST", path: alice + "/disable"}, 428, "precondition-required"},
			{"disable-stale-if-match", req{method: "POST", path: alice + "/disable", header: stale}, 412, "precondition-failed"},
			{"enable-without-if-match", req{method: "POST", path: alice + "/enable"}, 428, "precondition-required"},
			{"enable-stale-if-match", req{method: "POST", path: alice + "/enable", header: stale}, 412, "precondition-failed"},
			{"delete-without-if-match", req{method: "DELETE", path: alice}, 428, "precondition-required"},
			{"delete-stale-if-match", req{method: "DELETE", path: alice, header: stale}, 412, "precondition-failed"},
			{"bad-limit", req{method: "GET", path: "/admin/v1/users?limit=0"}, 400, "malformed-request"},
			{"bad-cursor", req{method: "GET", path: "/admin/v1/users?cursor=*"}, 400, "invalid-cursor"},
			{"unknown-route", req{method: "GET", path: "/admin/v1/groups"}, 404, "not-found"},
			{"wrong-method", req{method: "PATCH", path: alice}, 405, "method-not-allowed"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.rq.token = admin
				r := e.do(t, tc.rq)
				r.want(t, tc.status, tc.kind)
				if r.str("title") == "" || r.body["status"] != float64(tc.status) {
					t.Fatalf("problem without title or status: %s", r.raw)
				}
			})
		}
		// Nothing of the refused creates exists, and alice is as she was.
		if r := e.do(t, req{method: "GET", path: "/admin/v1/users", token: admin}); len(r.body["users"].([]any)) != 1 {
			t.Fatalf("users after refused creates: %s", r.raw)
		}
		if after := e.do(t, req{method: "GET", path: alice, token: admin}); after.raw != before.raw || after.header.Get("ETag") != before.header.Get("ETag") {
			t.Fatalf("refused changes changed alice: %s %s, was %s %s", after.header.Get("ETag"), after.raw, before.header.Get("ETag"), before.raw)
		}
		e.login(t, "app", "alice", alicePass, "")
	})
}

// TestConcurrentIfMatch sends, for each user write, two requests that
// read the same version of a user at once: two of that kind (claims,
// password, disable, enable), or a delete and a password change. Exactly
// one wins; the other gets 412 (or 404 when the user it would change was
// deleted meanwhile).
func TestConcurrentIfMatch(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		write := func(kind, id string, i int) req {
			p := path("/admin/v1/users/%s", id)
			switch kind {
			case "claims":
				return req{method: "PUT", path: p + "/claims", body: map[string]any{"claims": map[string]string{"writer": fmt.Sprint(i)}}}
			case "password":
				return req{method: "PUT", path: p + "/password", body: map[string]any{"password": fmt.Sprintf("password-of-writer-%d", i)}}
			case "disable", "enable":
				return req{method: "POST", path: p + "/" + kind}
			case "delete":
				return req{method: "DELETE", path: p}
			}
			panic(kind)
		}
		for _, pair := range [][2]string{{"claims", "claims"}, {"password", "password"}, {"disable", "disable"}, {"enable", "enable"}, {"delete", "password"}} {
			t.Run(pair[0], func(t *testing.T) {
				for round := range 4 {
					id := e.createUser(t, admin, fmt.Sprintf("%s-%d", pair[0], round))
					if pair[0] == "enable" {
						e.do(t, req{method: "POST", path: path("/admin/v1/users/%s/disable", id), token: admin,
							header: map[string]string{"If-Match": "*"}}).want(t, http.StatusOK, "")
					}
					etag := e.etag(t, admin, id)
					var wg sync.WaitGroup
					statuses := make([]int, 2)
					for i, kind := range pair {
						wg.Add(1)
						go func() {
							defer wg.Done()
							rq := write(kind, id, i)
							rq.token, rq.header = admin, map[string]string{"If-Match": etag}
							statuses[i] = e.do(t, rq).status
						}()
					}
					wg.Wait()
					won, lost := 0, 0
					for i, st := range statuses {
						switch {
						case st == http.StatusOK || st == http.StatusNoContent:
							won++
						case st == http.StatusPreconditionFailed, st == http.StatusNotFound && pair[0] == "delete" && i == 1:
							lost++
						}
					}
					if won != 1 || lost != 1 {
						t.Fatalf("round %d: statuses %v, want one success and one 412", round, statuses)
					}
				}
			})
		}
	})
}
