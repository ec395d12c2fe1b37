package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/oauthkit/authserver/verify"
)

// refetchInterval mirrors the package's rate limit on refetches.
const refetchInterval = 5 * time.Second

func TestDiscovery(t *testing.T) {
	const (
		rfcPath        = "/.well-known/oauth-authorization-server"
		oidcPath       = "/.well-known/openid-configuration"
		rfcTenantPath  = "/.well-known/oauth-authorization-server/tenant"
		oidcTenantPath = "/tenant/.well-known/openid-configuration"
	)
	tests := []struct {
		name     string
		setup    func(is *issuer)
		path     string // appended to the server URL to make the issuer
		jwksURL  bool   // configure WithJWKSURL
		wantErr  error  // nil: success; errAny: any error
		wantHits map[string]int
	}{
		{name: "rfc8414", wantHits: map[string]int{rfcPath: 1}},
		{name: "openid-fallback", setup: func(is *issuer) { is.serveRFC8414 = false },
			wantHits: map[string]int{rfcPath: 1, oidcPath: 1}},
		{name: "issuer-mismatch", setup: func(is *issuer) { is.metaIssuer = "https://evil.example" },
			wantErr: verify.ErrIssuer, wantHits: map[string]int{rfcPath: 1}},
		{name: "issuer-mismatch-trailing-slash", setup: func(is *issuer) { is.metaIssuer += "/" },
			wantErr: verify.ErrIssuer, wantHits: map[string]int{rfcPath: 1}},
		{name: "no-metadata", setup: func(is *issuer) { is.serveRFC8414, is.serveOIDC = false, false },
			wantErr: errAny, wantHits: map[string]int{rfcPath: 1, oidcPath: 1}},
		{name: "jwks-url-given", setup: func(is *issuer) { is.serveRFC8414, is.serveOIDC = false, false },
			jwksURL: true, wantHits: map[string]int{}},
		{name: "issuer-with-path", path: "/tenant", setup: func(is *issuer) { is.metaIssuer += "/tenant" },
			wantHits: map[string]int{rfcTenantPath: 1}},
		{name: "issuer-with-path-openid", path: "/tenant",
			setup:    func(is *issuer) { is.metaIssuer += "/tenant"; is.serveRFC8414 = false },
			wantHits: map[string]int{rfcTenantPath: 1, oidcTenantPath: 1}},
	}
	k := newKey(t, "rsa-1", jwa.RS256)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t, k)
			if tt.setup != nil {
				is.with(tt.setup)
			}
			opts := []verify.Option{verify.WithAudience(audience), verify.WithLogger(nil)}
			if tt.jwksURL {
				opts = append(opts, verify.WithJWKSURL(is.URL+"/jwks"))
			}
			v, err := verify.New(context.Background(), is.URL+tt.path, opts...)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr == nil:
				defer v.Close()
				if got, want := v.JWKSURL(), is.URL+"/jwks"; got != want {
					t.Errorf("JWKSURL() = %q, want %q", got, want)
				}
			case err == nil:
				v.Close()
				t.Fatal("New succeeded, want an error")
			case tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("New error = %v, want %v", err, tt.wantErr)
			}
			is.with(func(is *issuer) {
				if fmt.Sprint(is.metaHits) != fmt.Sprint(tt.wantHits) {
					t.Errorf("metadata requests = %v, want %v", is.metaHits, tt.wantHits)
				}
			})
		})
	}
}

// errAny stands for "any error" in tables.
var errAny = errors.New("any error")

func TestUnknownKidRefetch(t *testing.T) {
	k := newKey(t, "rsa-1", jwa.RS256)
	late := newKey(t, "late", jwa.RS256)
	ctx := context.Background()

	t.Run("refetch-once-then-fail", func(t *testing.T) {
		is := newIssuer(t, k)
		clk := newClock()
		v := newVerifier(t, is, clk)
		tok := token(t, late, is.claims(clk.Now()), nil)
		steps := []struct {
			name     string
			do       func()
			want     error
			wantHits int
		}{
			{"miss-refetches", nil, verify.ErrUnknownKey, 2},
			{"miss-again-is-rate-limited", nil, verify.ErrUnknownKey, 2},
			{"published-but-still-rate-limited", func() { is.addKey(late) }, verify.ErrUnknownKey, 2},
			{"interval-passed", func() { clk.Advance(refetchInterval) }, nil, 3},
			{"known-now", nil, nil, 3},
		}
		for _, s := range steps {
			if s.do != nil {
				s.do()
			}
			_, err := v.Verify(ctx, tok)
			if !errors.Is(err, s.want) {
				t.Errorf("%s: Verify error = %v, want %v", s.name, err, s.want)
			}
			if got := is.hits(); got != s.wantHits {
				t.Errorf("%s: JWKS requests = %d, want %d", s.name, got, s.wantHits)
			}
		}
	})

	t.Run("kid-added-after-start", func(t *testing.T) {
		is := newIssuer(t, k)
		clk := newClock()
		v := newVerifier(t, is, clk)
		is.addKey(late)
		tok := token(t, late, is.claims(clk.Now()), nil)
		var wg sync.WaitGroup
		var failed atomic.Int32
		for range 16 {
			wg.Go(func() {
				if _, err := v.Verify(ctx, tok); err != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := failed.Load(); n != 0 {
			t.Errorf("%d concurrent verifications failed, want 0", n)
		}
		if got := is.hits(); got != 2 {
			t.Errorf("JWKS requests = %d, want 2 (start, one shared refetch)", got)
		}
	})
}

func TestRefetchRateLimit(t *testing.T) {
	k := newKey(t, "rsa-1", jwa.RS256)
	is := newIssuer(t, k)
	clk := newClock()
	v := newVerifier(t, is, clk)
	payload := mustJSON(t, is.claims(clk.Now()))
	fakeSig := func([]byte) []byte { return make([]byte, 256) }

	flood := func(round int) {
		t.Helper()
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := range 20 {
					hdr := fmt.Sprintf(`{"alg":"RS256","typ":"at+jwt","kid":"flood-%d-%d-%d"}`, round, g, i)
					if _, err := v.Verify(context.Background(), rawToken(hdr, payload, fakeSig)); !errors.Is(err, verify.ErrUnknownKey) {
						t.Errorf("Verify error = %v, want ErrUnknownKey", err)
					}
				}
			})
		}
		wg.Wait()
	}
	steps := []struct {
		name     string
		advance  time.Duration
		wantHits int
	}{
		{"first-flood", 0, 2},
		{"within-interval", refetchInterval - time.Second, 2},
		{"next-interval", time.Second, 3},
		{"same-interval", 0, 3},
	}
	for round, s := range steps {
		clk.Advance(s.advance)
		flood(round)
		if got := is.hits(); got != s.wantHits {
			t.Errorf("%s: JWKS requests = %d, want %d", s.name, got, s.wantHits)
		}
	}
}

func TestBackgroundRefresh(t *testing.T) {
	tests := []struct {
		name         string
		cacheControl string
	}{
		{"max-age-1", "public, max-age=1"},
		{"max-age-0-floored", "max-age=0"},
		{"no-cache", "no-cache"},
		{"quoted-max-age", `max-age="1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := newKey(t, "rsa-1", jwa.RS256)
			is := newIssuer(t, k)
			is.with(func(is *issuer) { is.cacheControl = tt.cacheControl })
			clk := newClock()
			v := newVerifier(t, is, clk)
			// Two background refreshes, answered 304 as the set is unchanged.
			is.awaitJWKS(func(is *issuer) bool { return is.jwksHits >= 3 })
			is.with(func(is *issuer) {
				if is.notModified < 1 {
					t.Errorf("no conditional request answered 304")
				}
			})
			if _, err := v.Verify(context.Background(), token(t, k, is.claims(clk.Now()), nil)); err != nil {
				t.Errorf("Verify after refresh: %v", err)
			}
		})
	}
}

func TestRefreshFailureKeepsKeys(t *testing.T) {
	k := newKey(t, "rsa-1", jwa.RS256)
	is := newIssuer(t, k)
	is.with(func(is *issuer) { is.cacheControl = "max-age=1" })
	clk := newClock()
	v := newVerifier(t, is, clk)
	is.with(func(is *issuer) { is.failJWKS = true })
	is.awaitJWKS(func(is *issuer) bool { return is.jwksHits >= 2 })
	tok := token(t, k, is.claims(clk.Now()), nil)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify while the issuer fails: %v", err)
	}
	// An unknown kid is refetched, the fetch fails, and the error says so.
	other := newKey(t, "other", jwa.RS256)
	otherTok := token(t, other, is.claims(clk.Now()), nil)
	if _, err := v.Verify(context.Background(), otherTok); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("Verify error = %v, want ErrUnknownKey", err)
	}
	// The background retry finds the issuer back, with the new key.
	is.with(func(is *issuer) {
		is.keys = append(is.keys, other)
		is.failJWKS = false
	})
	is.awaitJWKS(func(is *issuer) bool { return is.servedWith(other.kid) >= 2 })
	if _, err := v.Verify(context.Background(), otherTok); err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	ctx := context.Background()

	// The issuer publishes each key ahead of its use, as authserver does;
	// the verifier sees it through its background refresh alone, since
	// the clock stands still and a first miss used up the refetches.
	t.Run("published-ahead", func(t *testing.T) {
		keys := []*signingKey{newKey(t, "rot-0", jwa.RS256)}
		is := newIssuer(t, keys[0])
		is.with(func(is *issuer) { is.cacheControl = "public, max-age=1" })
		clk := newClock()
		v := newVerifier(t, is, clk)
		claims := is.claims(clk.Now())
		if _, err := v.Verify(ctx, token(t, newKey(t, "spent", jwa.RS256), claims, nil)); !errors.Is(err, verify.ErrUnknownKey) {
			t.Fatalf("Verify error = %v, want ErrUnknownKey", err)
		}

		type signer struct{ kid, token string }
		var current atomic.Pointer[signer]
		current.Store(&signer{keys[0].kid, token(t, keys[0], claims, nil)})
		stop := make(chan struct{})
		var verified, failed atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					s := current.Load()
					if _, err := v.Verify(ctx, s.token); err != nil {
						failed.Add(1)
						t.Errorf("Verify token of %s: %v", s.kid, err)
					}
					verified.Add(1)
				}
			})
		}
		for i := 1; i <= 3; i++ {
			next := newKey(t, fmt.Sprintf("rot-%d", i), jwa.RS256)
			keys = append(keys, next)
			is.addKey(next)
			// A second response with the key proves the first was installed.
			is.awaitJWKS(func(is *issuer) bool { return is.servedWith(next.kid) >= 2 })
			current.Store(&signer{next.kid, token(t, next, claims, nil)})
			if i >= 2 {
				is.removeKey(keys[i-2].kid)
			}
		}
		close(stop)
		wg.Wait()
		if failed.Load() != 0 || verified.Load() == 0 {
			t.Fatalf("%d of %d verifications failed during rotation, want 0", failed.Load(), verified.Load())
		}

		// A key removed from the JWKS stops verifying after max-age.
		old := token(t, keys[2], claims, nil)
		if _, err := v.Verify(ctx, old); err != nil {
			t.Fatalf("Verify with the retired key before its removal: %v", err)
		}
		is.removeKey(keys[2].kid)
		h := is.hits()
		is.awaitJWKS(func(is *issuer) bool { return is.jwksHits >= h+2 })
		if _, err := v.Verify(ctx, old); !errors.Is(err, verify.ErrUnknownKey) {
			t.Fatalf("Verify with a removed key: error = %v, want ErrUnknownKey", err)
		}
	})

	// The issuer signs with a new key at once: the verifier finds it by
	// the refetch on the unknown kid.
	t.Run("on-unknown-kid", func(t *testing.T) {
		prev := newKey(t, "rot-0", jwa.RS256)
		is := newIssuer(t, prev)
		clk := newClock()
		v := newVerifier(t, is, clk)
		for i := 1; i <= 3; i++ {
			clk.Advance(refetchInterval)
			next := newKey(t, fmt.Sprintf("rot-%d", i), jwa.RS256)
			is.addKey(next)
			for _, k := range []*signingKey{next, prev} {
				if _, err := v.Verify(ctx, token(t, k, is.claims(clk.Now()), nil)); err != nil {
					t.Fatalf("rotation %d: Verify token of %s: %v", i, k.kid, err)
				}
			}
			if got, want := is.hits(), 1+i; got != want {
				t.Errorf("rotation %d: JWKS requests = %d, want %d", i, got, want)
			}
			prev = next
		}
	})
}

func TestClose(t *testing.T) {
	k := newKey(t, "rsa-1", jwa.RS256)
	unknown := newKey(t, "unknown", jwa.RS256)
	tests := []struct {
		name string
		stop func(v *verify.Verifier, cancel context.CancelFunc)
	}{
		{"close", func(v *verify.Verifier, _ context.CancelFunc) { v.Close(); v.Close() }},
		{"cancel-context", func(_ *verify.Verifier, cancel context.CancelFunc) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := newIssuer(t, k)
			clk := newClock()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			v, err := verify.New(ctx, is.URL, verify.WithAudience(audience), verify.WithClock(clk.Now), verify.WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			tt.stop(v, cancel)
			if _, err := v.Verify(context.Background(), token(t, k, is.claims(clk.Now()), nil)); err != nil {
				t.Errorf("Verify with a known key after stop: %v", err)
			}
			if _, err := v.Verify(context.Background(), token(t, unknown, is.claims(clk.Now()), nil)); !errors.Is(err, verify.ErrUnknownKey) {
				t.Errorf("Verify error = %v, want ErrUnknownKey", err)
			}
			if got := is.hits(); got != 1 {
				t.Errorf("JWKS requests = %d, want 1: no fetch after stop", got)
			}
		})
	}
}

// countingTransport counts the requests that go through it.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestWithHTTPClient(t *testing.T) {
	is := newIssuer(t, newKey(t, "rsa-1", jwa.RS256))
	tr := &countingTransport{}
	newVerifier(t, is, newClock(), verify.WithHTTPClient(&http.Client{Transport: tr}))
	if got := tr.n.Load(); got != 2 {
		t.Errorf("requests through the client = %d, want 2 (metadata, JWKS)", got)
	}
}
