package authserver_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/store"
)

// TestRedeemCodeErrors covers every refusal of a code at the token
// endpoint.
func TestRedeemCodeErrors(t *testing.T) {
	e := newCodeEnv(t)
	b := e.browser()
	tests := []struct {
		name       string
		kv         []string
		wantStatus int
		wantError  string
	}{
		{"wrong-verifier", []string{"code_verifier", strings.Repeat("a", 43)}, 400, "invalid_grant"},
		{"no-verifier", []string{"code_verifier", ""}, 400, "invalid_request"},
		{"short-verifier", []string{"code_verifier", "abc"}, 400, "invalid_request"},
		{"verifier-bad-characters", []string{"code_verifier", strings.Repeat("a", 42) + "/"}, 400, "invalid_request"},
		{"challenge-as-verifier", []string{"code_verifier", s256(testVerifier)}, 400, "invalid_grant"},
		{"wrong-redirect", []string{"redirect_uri", spaRedirect + "x"}, 400, "invalid_grant"},
		{"no-redirect", []string{"redirect_uri", ""}, 400, "invalid_grant"},
		{"other-client", []string{"client_id", "native"}, 400, "invalid_grant"},
		{"unknown-code", []string{"code", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 400, "invalid_grant"},
		{"no-code", []string{"code", ""}, 400, "invalid_request"},
		{"client-without-grant", []string{"client_id", "app"}, 400, "unauthorized_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := e.signedInCode(t, b)
			r := e.redeem(t, code, tc.kv...)
			if r.status != tc.wantStatus || r.str("error") != tc.wantError || r.str("access_token") != "" {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.wantStatus, tc.wantError)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		code := e.signedInCode(t, b)
		e.clock.Advance(61 * time.Second)
		if r := e.redeem(t, code); r.str("error") != "invalid_grant" {
			t.Fatalf("expired code: %d %s", r.status, r.raw)
		}
	})
	t.Run("just-in-time", func(t *testing.T) {
		code := e.signedInCode(t, b)
		e.clock.Advance(59 * time.Second)
		if r := e.redeem(t, code); r.status != http.StatusOK {
			t.Fatalf("code at 59 s: %d %s", r.status, r.raw)
		}
	})
	t.Run("redirect-omitted-in-both", func(t *testing.T) {
		p := b.get(t, authzQuery("redirect_uri", ""))
		code := e.codeFrom(t, p, spaRedirect, "st-123")
		if r := e.redeem(t, code, "redirect_uri", spaRedirect); r.str("error") != "invalid_grant" {
			t.Fatalf("redirect_uri not in the request but at redemption: %d %s", r.status, r.raw)
		}
		p = b.get(t, authzQuery("redirect_uri", ""))
		code = e.codeFrom(t, p, spaRedirect, "st-123")
		if r := e.redeem(t, code, "redirect_uri", ""); r.status != http.StatusOK {
			t.Fatalf("redirect_uri omitted in both: %d %s", r.status, r.raw)
		}
	})
	t.Run("disabled-user", func(t *testing.T) {
		code := e.signedInCode(t, b)
		if _, err := e.srv.Users().SetDisabled(t.Context(), "alice", true); err != nil {
			t.Fatal(err)
		}
		defer e.srv.Users().SetDisabled(t.Context(), "alice", false)
		if r := e.redeem(t, code); r.str("error") != "invalid_grant" {
			t.Fatalf("code of a disabled user: %d %s", r.status, r.raw)
		}
	})
	// Last: it ends the browser's session. A code issued before a password
	// change makes no session after it (the family records the login's
	// credential version, which the store refuses).
	t.Run("password-changed", func(t *testing.T) {
		code := e.signedInCode(t, b)
		if _, err := e.srv.Users().SetPassword(t.Context(), "alice", "a new password for alice"); err != nil {
			t.Fatal(err)
		}
		if r := e.redeem(t, code); r.str("error") != "invalid_grant" {
			t.Fatalf("code issued before a password change: %d %s", r.status, r.raw)
		}
	})
}

// TestRedeemCodeTwice: a code works once; the second redemption fails and
// revokes the refresh family the first one got (RFC 6749 §10.5).
func TestRedeemCodeTwice(t *testing.T) {
	e := newCodeEnv(t)
	code := e.signedInCode(t, e.browser())
	first := e.redeem(t, code)
	if first.status != http.StatusOK {
		t.Fatalf("first redemption: %d %s", first.status, first.raw)
	}
	if r := e.redeem(t, code); r.str("error") != "invalid_grant" {
		t.Fatalf("second redemption: %d %s", r.status, r.raw)
	}
	r := e.post(t, "/oauth2/token", form("grant_type", "refresh_token", "client_id", "spa", "refresh_token", first.str("refresh_token")), "")
	if r.str("error") != "invalid_grant" {
		t.Fatalf("refresh after the code's replay: %d %s, want the family revoked", r.status, r.raw)
	}
}

// TestRedeemCodeRace: of simultaneous redemptions at most one gets
// tokens, and since the others are replays of its code, its refresh
// family does not survive them (RFC 6749 §10.5).
func TestRedeemCodeRace(t *testing.T) {
	e := newCodeEnv(t)
	code := e.signedInCode(t, e.browser())
	const n = 6
	results := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.redeem(t, code)
		}()
	}
	wg.Wait()
	var issued []string
	for _, r := range results {
		switch {
		case r.status == http.StatusOK:
			issued = append(issued, r.str("refresh_token"))
		case r.str("error") != "invalid_grant":
			t.Errorf("redemption: %d %s", r.status, r.raw)
		}
	}
	if len(issued) > 1 {
		t.Fatalf("%d redemptions got tokens", len(issued))
	}
	for _, rt := range issued {
		r := e.post(t, "/oauth2/token", form("grant_type", "refresh_token", "client_id", "spa", "refresh_token", rt), "")
		if r.str("error") != "invalid_grant" {
			t.Fatalf("the family of a replayed code survived: %d %s", r.status, r.raw)
		}
	}
}

// TestPasswordGrantStillWorks: clients that allow it keep the password
// grant beside the new flow.
func TestPasswordGrantStillWorks(t *testing.T) {
	e := newCodeEnv(t)
	e.login(t)
}

// hookStore runs a hook before the store creates a family.
type hookStore struct {
	store.Store
	beforeCreate atomic.Pointer[func()]
}

func (h *hookStore) CreateFamily(ctx context.Context, f store.Family) error {
	if hook := h.beforeCreate.Swap(nil); hook != nil {
		(*hook)()
	}
	return h.Store.CreateFamily(ctx, f)
}

// TestRedeemCodeReplayBeforeFamily: a replay that arrives while the first
// redemption is still creating its family cannot revoke it yet; the first
// redemption finds its mark and neither gets tokens.
func TestRedeemCodeReplayBeforeFamily(t *testing.T) {
	hs := &hookStore{}
	e := newCodeEnvWith(t, func(o *authserver.Options) {
		hs.Store = o.Store
		o.Store = hs
	})
	code := e.signedInCode(t, e.browser())
	var replay response
	hook := func() { replay = e.redeem(t, code) }
	hs.beforeCreate.Store(&hook)
	first := e.redeem(t, code)
	if first.str("error") != "invalid_grant" || replay.str("error") != "invalid_grant" {
		t.Fatalf("first %d %s, replay %d %s: want both invalid_grant", first.status, first.raw, replay.status, replay.raw)
	}
	fams, err := e.store.ListFamilies(t.Context(), e.alice, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 0 {
		t.Fatalf("%d families live after the code's replay", len(fams))
	}
}
