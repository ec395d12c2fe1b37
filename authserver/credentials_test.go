package authserver_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPasswordChangeDuringLogins runs password logins with the old
// password, over real HTTP, while the password is changed: once the
// change has returned, no family of the user may be live and no refresh
// token that any of those logins obtained may be redeemed, whether the
// login finished before, during or after the change.
func TestPasswordChangeDuringLogins(t *testing.T) {
	e := newEnv(t, nil)
	const workers = 6
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens []string
		ok     atomic.Int32
		stop   atomic.Bool
		warm   = make(chan struct{})
		once   sync.Once
	)
	for range workers {
		wg.Go(func() {
			for !stop.Load() {
				r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass), "")
				if r.status != http.StatusOK {
					continue // refused once the password changed (or locked out)
				}
				mu.Lock()
				tokens = append(tokens, r.str("refresh_token"))
				mu.Unlock()
				if ok.Add(1) == workers {
					once.Do(func() { close(warm) })
				}
			}
		})
	}
	select {
	case <-warm: // the logins are under way
	case <-time.After(time.Minute):
		stop.Store(true)
		wg.Wait()
		t.Fatalf("only %d logins succeeded in a minute", ok.Load())
	}
	if _, err := e.srv.Users().SetPassword(context.Background(), "alice", "a-new-password"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	// Logins still in flight finish (or fail) now.
	stop.Store(true)
	wg.Wait()
	live, err := e.store.ListFamilies(context.Background(), e.alice, e.clock.Now())
	if err != nil {
		t.Fatalf("ListFamilies: %v", err)
	}
	if len(live) != 0 {
		t.Errorf("%d families of alice live after the password change", len(live))
	}
	for _, rt := range tokens {
		if r := e.refresh(t, rt); r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
			t.Fatalf("refresh of a token from a login with the old password: %d %q", r.status, r.str("error"))
		}
	}
	t.Logf("%d logins with the old password succeeded; all were revoked", len(tokens))
}

// TestReplayWithAnotherScope checks that a retry within the reuse grace
// gets the very response of the rotation it retries, or nothing: one with
// another scope is refused, so that no two access tokens share a jti.
func TestReplayWithAnotherScope(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.login(t).str("refresh_token")
	first := e.refresh(t, rt, "scope", "profile")
	if first.status != http.StatusOK {
		t.Fatalf("refresh: %d %q", first.status, first.str("error"))
	}
	for _, scope := range []string{"profile orders:read", "", "orders:read"} {
		r := e.refresh(t, rt, "scope", scope)
		if r.status != http.StatusBadRequest || r.str("error") != "invalid_scope" {
			t.Fatalf("retry with scope %q: %d %q, want invalid_scope", scope, r.status, r.str("error"))
		}
	}
	again := e.refresh(t, rt, "scope", "profile")
	if again.status != http.StatusOK || again.str("access_token") != first.str("access_token") ||
		again.str("refresh_token") != first.str("refresh_token") {
		t.Fatalf("retry with the same scope: %d, a different response", again.status)
	}
	// The refused retries changed nothing: the successor still rotates.
	if r := e.refresh(t, first.str("refresh_token")); r.status != http.StatusOK {
		t.Fatalf("refresh of the successor: %d %q", r.status, r.str("error"))
	}
}
