package adminapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// TestIdempotentCreate retries a create with one Idempotency-Key: the
// retry gets the first answer and no second user; the key with another
// body is refused.
func TestIdempotentCreate(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		key := map[string]string{"Idempotency-Key": "create-dave-1"}
		body := map[string]any{"name": "dave", "password": "dave-password"}
		first := e.do(t, req{method: "POST", path: "/admin/v1/users", token: admin, body: body, header: key}).want(t, http.StatusCreated, "")
		for range 3 {
			again := e.do(t, req{method: "POST", path: "/admin/v1/users", token: admin, body: body, header: key}).want(t, http.StatusCreated, "")
			if again.raw != first.raw || again.header.Get("Location") != first.header.Get("Location") || again.header.Get("Idempotent-Replayed") != "true" ||
				first.header.Get("ETag") == "" || again.header.Get("ETag") != first.header.Get("ETag") {
				t.Fatalf("retry answered %v %s, first %s", again.header, again.raw, first.raw)
			}
		}
		// Without the key, the same body is a second create: refused.
		e.do(t, req{method: "POST", path: "/admin/v1/users", token: admin, body: body}).want(t, http.StatusConflict, "already-exists")
		e.do(t, req{method: "POST", path: "/admin/v1/users", token: admin, header: key,
			body: map[string]any{"name": "dave2", "password": "dave-password"}}).want(t, http.StatusUnprocessableEntity, "idempotency-key-reused")
		e.do(t, req{method: "POST", path: "/admin/v1/users", token: admin, body: body,
			header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}}).want(t, http.StatusBadRequest, "invalid-idempotency-key")
		// The answer is kept for at least 24 hours.
		rec := store.IdempotencyRecord{Key: "admin\x00create-dave-1", Fingerprint: "another", Expires: time.Now().Add(48 * time.Hour)}
		kept, reserved, err := e.store.ReserveIdempotencyKey(context.Background(), rec, time.Now().Add(24*time.Hour-time.Minute))
		if err != nil || reserved || kept.Status != http.StatusCreated || kept.Expires.Before(time.Now().Add(24*time.Hour-time.Minute)) {
			t.Fatalf("record a day on: %+v %v %v", kept, reserved, err)
		}
	})
}

// TestIdempotentCreateConcurrent sends identical creates with one key at
// once: one user is created, and every answer is that creation's.
func TestIdempotentCreateConcurrent(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		for round, name := range []string{"erin", "frank", "grace"} {
			var wg sync.WaitGroup
			answers := make([]response, 4)
			start := make(chan struct{})
			for i := range answers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					answers[i] = e.do(t, req{method: "POST", path: "/admin/v1/users", token: admin,
						body: map[string]any{"name": name, "password": "long-enough"}, header: map[string]string{"Idempotency-Key": "race-" + name}})
				}()
			}
			close(start)
			wg.Wait()
			var created []response
			for _, a := range answers {
				switch {
				case a.status == http.StatusCreated:
					created = append(created, a)
				case a.status == http.StatusConflict && a.problemType() == "idempotency-in-flight":
				default:
					t.Fatalf("round %d: answer %d %s", round, a.status, a.raw)
				}
			}
			if len(created) == 0 {
				t.Fatalf("round %d: no answer created the user", round)
			}
			for _, c := range created[1:] {
				if c.raw != created[0].raw {
					t.Fatalf("round %d: two creations answered: %s and %s", round, created[0].raw, c.raw)
				}
			}
		}
		page := e.do(t, req{method: "GET", path: "/admin/v1/users", token: admin}).want(t, http.StatusOK, "")
		if n := len(page.body["users"].([]any)); n != 4 {
			t.Fatalf("%d users, want alice and one per round: %s", n, page.raw)
		}
	})
}

// TestIdempotentIfMatch retries a conditional disable with one
// Idempotency-Key: the retry with the same If-Match gets the first answer
// (not the 412 that running it again against the changed user would
// give); one with another If-Match is another request, refused.
func TestIdempotentIfMatch(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		p := path("/admin/v1/users/%s/disable", e.alice)
		h := map[string]string{"Idempotency-Key": "disable-alice", "If-Match": e.etag(t, admin, e.alice)}
		first := e.do(t, req{method: "POST", path: p, token: admin, header: h}).want(t, http.StatusOK, "")
		again := e.do(t, req{method: "POST", path: p, token: admin, header: h}).want(t, http.StatusOK, "")
		if again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry answered %v %s, first %s", again.header, again.raw, first.raw)
		}
		h["If-Match"] = "*"
		e.do(t, req{method: "POST", path: p, token: admin, header: h}).want(t, http.StatusUnprocessableEntity, "idempotency-key-reused")
	})
}
