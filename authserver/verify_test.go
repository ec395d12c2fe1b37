package authserver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/verify"
)

// These tests run the verify package, as a resource server would, against
// a real authserver: its discovery document, its JWKS (max-age 300 s with
// the default publish_ahead) and tokens from its token endpoint.

// jwksCounter counts the key set fetches a verifier makes.
type jwksCounter struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *jwksCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/.well-known/jwks.json" {
		c.n.Add(1)
	}
	return c.next.RoundTrip(r)
}

// newTokenVerifier returns a verifier of e's tokens for audience "api",
// found through e's metadata and running on e's clock, with the count of
// its JWKS fetches. opts come last and override.
func (e *env) newTokenVerifier(t *testing.T, opts ...verify.Option) (*verify.Verifier, *atomic.Int64) {
	t.Helper()
	ctr := &jwksCounter{next: e.http.Client().Transport}
	all := append([]verify.Option{
		verify.WithAudience("api"),
		verify.WithClock(e.clock.Now),
		verify.WithHTTPClient(&http.Client{Transport: ctr, Timeout: 10 * time.Second}),
		verify.WithLogger(quietLog),
	}, opts...)
	v, err := verify.New(context.Background(), e.http.URL, all...)
	if err != nil {
		t.Fatalf("verify.New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v, &ctr.n
}

// serviceToken returns an access token of the svc client
// (client_credentials; scopes billing and reports; audience api). It
// reports failure with an error, not t, so that goroutines can call it.
func (e *env) serviceToken() (string, error) {
	req, err := http.NewRequest(http.MethodPost, e.http.URL+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", svcSecret)
	resp, err := e.http.Client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("client_credentials grant: status %d, %v", resp.StatusCode, err)
	}
	return body.AccessToken, nil
}

func (e *env) mustServiceToken(t *testing.T) string {
	t.Helper()
	tok, err := e.serviceToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// webToken returns alice's access token through the confidential client
// web, whose audience is web-api.
func (e *env) webToken(t *testing.T) string {
	t.Helper()
	r := e.post(t, "/oauth2/token", form("grant_type", "password", "username", "alice", "password", alicePass), "web:"+webSecret)
	if r.status != http.StatusOK {
		t.Fatalf("web login: %d %s", r.status, r.raw)
	}
	return r.str("access_token")
}

// kidOf returns the kid of a token's header, or "" if it has none.
func kidOf(token string) string {
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(raw, &h)
	return h.Kid
}

// sameClaims compares claims, times by instant, and reports the
// difference.
func sameClaims(t *testing.T, got, want *verify.Claims) {
	t.Helper()
	g, w := *got, *want
	for _, p := range []struct {
		name     string
		got, exp *time.Time
	}{{"IssuedAt", &g.IssuedAt, &w.IssuedAt}, {"ExpiresAt", &g.ExpiresAt, &w.ExpiresAt}, {"NotBefore", &g.NotBefore, &w.NotBefore}} {
		if !p.got.Equal(*p.exp) {
			t.Errorf("%s = %v, want %v", p.name, *p.got, *p.exp)
		}
		*p.got, *p.exp = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("claims (-got +want):\n-%+v\n+%+v", g, w)
	}
}

func TestVerifyTokensOfEveryGrant(t *testing.T) {
	e := newEnv(t, nil)
	v, fetches := e.newTokenVerifier(t)
	if got, want := v.JWKSURL(), e.http.URL+"/.well-known/jwks.json"; got != want {
		t.Errorf("discovered JWKS URL = %q, want %q", got, want)
	}
	login := e.login(t)
	refreshed := e.refresh(t, login.str("refresh_token"))
	if refreshed.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", refreshed.status, refreshed.raw)
	}
	now := e.clock.Now()
	alice := &verify.Claims{
		Issuer:    e.http.URL,
		Subject:   e.alice,
		ClientID:  "app",
		Audience:  []string{"api"},
		Scopes:    []string{"profile", "orders:read"},
		IssuedAt:  now,
		ExpiresAt: now.Add(15 * time.Minute),
		Extra:     map[string]any{"email": "alice@example.test"},
	}
	tests := []struct {
		name  string
		token string
		want  *verify.Claims
	}{
		{"password", login.str("access_token"), alice},
		{"refresh-token", refreshed.str("access_token"), alice},
		{"client-credentials", e.mustServiceToken(t), &verify.Claims{
			Issuer:    e.http.URL,
			Subject:   "svc",
			ClientID:  "svc",
			Audience:  []string{"api"},
			Scopes:    []string{"billing", "reports"},
			IssuedAt:  now,
			ExpiresAt: now.Add(15 * time.Minute),
		}},
	}
	jtis := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.token == "" {
				t.Fatal("no access token issued")
			}
			got, err := v.Verify(context.Background(), tt.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.JTI == "" || jtis[got.JTI] {
				t.Errorf("jti %q empty or reused", got.JTI)
			}
			jtis[got.JTI] = true
			want := *tt.want
			want.JTI = got.JTI
			sameClaims(t, got, &want)
		})
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (by New)", n)
	}
}

func TestVerifyRejectsRealTokens(t *testing.T) {
	e := newEnv(t, nil)
	v, _ := e.newTokenVerifier(t)
	ctx := context.Background()
	user := e.login(t).str("access_token")
	web := e.webToken(t)

	// Each refused token is genuine, and verifies where it belongs: the
	// refusal is the check under test, not a broken token or key set.
	if _, err := v.Verify(ctx, user); err != nil {
		t.Fatalf("Verify(app token) for api: %v", err)
	}
	webAPI, _ := e.newTokenVerifier(t, verify.WithAudience("web-api"))
	if _, err := webAPI.Verify(ctx, web); err != nil {
		t.Fatalf("Verify(web token) for web-api: %v", err)
	}
	ordersAPI, _ := e.newTokenVerifier(t, verify.WithAudience("orders-api"))
	otherIssuer, err := verify.New(ctx, "https://auth.other.example",
		verify.WithJWKSURL(v.JWKSURL()), verify.WithAudience("api"), verify.WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	defer otherIssuer.Close()

	tests := []struct {
		name  string
		v     *verify.Verifier
		token string
		want  error
	}{
		{"token-for-web-api", v, web, verify.ErrAudience},
		{"verifier-of-another-audience", ordersAPI, user, verify.ErrAudience},
		{"verifier-of-another-issuer", otherIssuer, user, verify.ErrIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.v.Verify(ctx, tt.token)
			if !errors.Is(err, tt.want) || c != nil {
				t.Fatalf("Verify = %v, %v; want error %v", c, err, tt.want)
			}
		})
	}
}

func TestVerifyExpiry(t *testing.T) {
	e := newEnv(t, nil)
	v, _ := e.newTokenVerifier(t)
	ctx := context.Background()
	tok := e.login(t).str("access_token")
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	// exp is iat + 15m; the verifier tolerates DefaultLeeway of skew past it.
	e.clock.Advance(15 * time.Minute)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("at exp, within the leeway: %v", err)
	}
	e.clock.Advance(verify.DefaultLeeway)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, verify.ErrExpired) {
		t.Fatalf("past exp + leeway: %v, want %v", err, verify.ErrExpired)
	}
	// The server's own clock agrees: a new token verifies again.
	if _, err := v.Verify(ctx, e.login(t).str("access_token")); err != nil {
		t.Fatalf("token issued after the advance: %v", err)
	}
}

func TestVerifyAfterKeyRevocation(t *testing.T) {
	e := newEnv(t, nil)
	v, fetches := e.newTokenVerifier(t)
	ctx := context.Background()
	old := e.login(t).str("access_token")
	oldKID := kidOf(old)
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if err := e.keys.Revoke(ctx, oldKID); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(e.jwksDocument(t)), oldKID) {
		t.Fatalf("revoked kid %s still in the JWKS", oldKID)
	}
	// The verifier's cached key set still holds the revoked key: that is
	// the window max-age bounds (docs/key-rotation.md). A token of the new
	// active key makes it refetch.
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("before the verifier refetched: %v", err)
	}
	fresh := e.login(t).str("access_token")
	if kid := kidOf(fresh); kid == "" || kid == oldKID {
		t.Fatalf("token after revocation signed by kid %q, want a new key (revoked %s)", kid, oldKID)
	}
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Fatalf("token of the successor key: %v", err)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (New, then the unknown kid)", n)
	}
	var err error
	testutil.Eventually(t, 20*time.Second, "the revoked key's token to be refused", func() bool {
		_, err = v.Verify(ctx, old)
		return err != nil
	})
	if !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("token of the revoked key: %v, want %v", err, verify.ErrUnknownKey)
	}
}

// jwksDocument returns the JWKS as served now.
func (e *env) jwksDocument(t *testing.T) []byte {
	t.Helper()
	resp, err := e.http.Client().Get(e.http.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestVerifyThroughKeyRotation has workers mint and verify tokens while
// the server rotates its key with immediate effect, twice: no token, of
// an old key or of a new one, may fail, and each new kid costs one JWKS
// fetch.
func TestVerifyThroughKeyRotation(t *testing.T) {
	e := newEnv(t, nil)
	v, fetches := e.newTokenVerifier(t)
	ctx := context.Background()
	old := e.login(t).str("access_token")
	firstKID := kidOf(old)

	var (
		mu       sync.Mutex
		verified = map[string]int{} // fresh tokens verified, by kid
		failures []error
	)
	// progress reports whether a worker failed or kid's tokens verified
	// at least 8 times.
	progress := func(kid string) bool {
		mu.Lock()
		defer mu.Unlock()
		return len(failures) > 0 || verified[kid] >= 8
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := e.serviceToken()
				if err == nil {
					if _, err = v.Verify(ctx, tok); err != nil {
						err = fmt.Errorf("fresh token of kid %s: %w", kidOf(tok), err)
					}
				}
				if err == nil {
					// A token of the first key, verified all along.
					if _, err = v.Verify(ctx, old); err != nil {
						err = fmt.Errorf("first token, of kid %s: %w", firstKID, err)
					}
				}
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					verified[kidOf(tok)]++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	stopped := false
	halt := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer halt()

	testutil.Eventually(t, 20*time.Second, "tokens of the first key to verify", func() bool { return progress(firstKID) })
	for i := range 2 {
		if i > 0 {
			// The unknown-kid refetch is rate-limited (5 s on the
			// verifier's clock): space the rotations that far apart.
			e.clock.Advance(6 * time.Second)
		}
		k, err := e.keys.Rotate(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 20*time.Second, "tokens of key "+k.KID()+" to verify", func() bool { return progress(k.KID()) })
	}
	halt()
	for _, err := range failures {
		t.Error(err)
	}
	if len(verified) != 3 {
		t.Errorf("tokens verified by kid: %v, want 3 keys", verified)
	}
	if n := fetches.Load(); n != 3 {
		t.Errorf("JWKS fetched %d times, want 3 (New, then once per new kid)", n)
	}
}

func TestVerifyMiddlewareWithRealTokens(t *testing.T) {
	e := newEnv(t, nil)
	v, _ := e.newTokenVerifier(t)
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Middleware("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := verify.ClaimsFromContext(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"sub": c.Subject, "scopes": c.Scopes, "email": c.Extra["email"]})
	})))
	api := httptest.NewServer(mux)
	defer api.Close()

	tests := []struct {
		name      string
		token     string
		status    int
		challenge string // in WWW-Authenticate
		body      map[string]any
	}{
		{"user-token", e.login(t).str("access_token"), http.StatusOK, "",
			map[string]any{"sub": e.alice, "scopes": []any{"profile", "orders:read"}, "email": "alice@example.test"}},
		{"service-token-lacks-scope", e.mustServiceToken(t), http.StatusForbidden,
			`error="insufficient_scope"`, map[string]any{"error": "insufficient_scope", "error_description": "the access token lacks a required scope"}},
		{"token-for-another-audience", e.webToken(t), http.StatusUnauthorized,
			`error="invalid_token"`, map[string]any{"error": "invalid_token", "error_description": "the access token is not meant for this service"}},
		{"no-token", "", http.StatusUnauthorized, `Bearer realm="api"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, api.URL+"/orders", nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := api.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, raw)
			}
			if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", ch, tt.challenge)
			}
			if tt.status == http.StatusForbidden && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="orders:read"`) {
				t.Errorf("WWW-Authenticate = %q, want the required scope", resp.Header.Get("WWW-Authenticate"))
			}
			var body map[string]any
			json.Unmarshal(raw, &body)
			if !reflect.DeepEqual(body, tt.body) {
				t.Errorf("body (-got +want):\n-%v\n+%v", body, tt.body)
			}
		})
	}
}
