package verify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/oauthkit/authserver/verify"
)

// keyServer serves a JWKS at /jwks and the metadata of issuer (read when
// a request comes, so that it may be the server's own URL) at both
// well-known paths, naming jwksURI(); every request is counted.
type keyServer struct {
	srv     *httptest.Server
	hits    atomic.Int64
	issuer  func() string
	jwksURI func() string
}

func newKeyServer(t *testing.T, tls bool, mux func(*http.ServeMux)) *keyServer {
	t.Helper()
	ks := &keyServer{}
	set := jwk.NewSet()
	set.AddKey(newKey(t, "rsa-1", jwa.RS256).jwk(t))
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) { w.Write(body) })
	meta := func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": ks.issuer(), "jwks_uri": ks.jwksURI()})
	}
	m.HandleFunc("GET /.well-known/oauth-authorization-server", meta)
	m.HandleFunc("GET /.well-known/openid-configuration", meta)
	if mux != nil {
		mux(m)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.hits.Add(1)
		m.ServeHTTP(w, r)
	})
	if tls {
		ks.srv = httptest.NewTLSServer(h)
	} else {
		ks.srv = httptest.NewServer(h)
	}
	t.Cleanup(ks.srv.Close)
	ks.issuer = func() string { return ks.srv.URL }
	ks.jwksURI = func() string { return ks.srv.URL + "/jwks" }
	return ks
}

// redirect answers 302 to the URL that to returns.
func redirect(to func() string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to(), http.StatusFound) }
}

// otherHost names the loopback server at u by "localhost" instead of
// 127.0.0.1: another host name, as a redirect to a foreign host has.
func otherHost(u string) string { return strings.Replace(u, "127.0.0.1", "localhost", 1) }

func newVerify(issuer string, hc *http.Client, opts ...verify.Option) (*verify.Verifier, error) {
	opts = append(opts, verify.WithAudience(audience), verify.WithLogger(nil))
	if hc != nil {
		opts = append(opts, verify.WithHTTPClient(hc))
	}
	v, err := verify.New(context.Background(), issuer, opts...)
	if err == nil {
		v.Close()
	}
	return v, err
}

// TestDiscoveryRefusesPlainHTTPKeys: the metadata of an https issuer that
// names an http jwks_uri is refused, and the keys are never fetched.
func TestDiscoveryRefusesPlainHTTPKeys(t *testing.T) {
	plain := newKeyServer(t, false, nil)
	is := newKeyServer(t, true, nil)
	is.jwksURI = func() string { return plain.srv.URL + "/jwks" }
	_, err := newVerify(is.srv.URL, is.srv.Client())
	if err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Fatalf("New = %v, want a refusal of the http jwks_uri", err)
	}
	if n := plain.hits.Load(); n != 0 {
		t.Errorf("the http jwks_uri was fetched %d times", n)
	}
	if n := is.hits.Load(); n != 1 {
		t.Errorf("metadata requests = %d, want 1: the refusal ends discovery", n)
	}

	// The same issuer with its https jwks_uri works; so does an http
	// issuer with an http one, and an https jwks_uri named by hand.
	is.jwksURI = func() string { return is.srv.URL + "/jwks" }
	if _, err := newVerify(is.srv.URL, is.srv.Client()); err != nil {
		t.Errorf("https issuer, https jwks_uri: %v", err)
	}
	if _, err := newVerify(plain.srv.URL, nil); err != nil {
		t.Errorf("http issuer, http jwks_uri: %v", err)
	}
}

// TestNoRedirectToAnotherOrigin: discovery and key set fetches follow a
// redirect within the origin they asked, and fail on one to another host
// (or port, or scheme), without requesting it.
func TestNoRedirectToAnotherOrigin(t *testing.T) {
	foreign := newKeyServer(t, false, nil)
	tests := []struct {
		name  string
		tls   bool
		route func(self func() string, foreign *keyServer) func(*http.ServeMux)
		ok    bool
	}{
		{"jwks-to-another-host", false, func(self func() string, f *keyServer) func(*http.ServeMux) {
			return func(m *http.ServeMux) {
				m.Handle("GET /moved-jwks", redirect(func() string { return otherHost(f.srv.URL) + "/jwks" }))
			}
		}, false},
		{"jwks-to-another-port", false, func(self func() string, f *keyServer) func(*http.ServeMux) {
			return func(m *http.ServeMux) {
				m.Handle("GET /moved-jwks", redirect(func() string { return f.srv.URL + "/jwks" }))
			}
		}, false},
		{"jwks-https-to-http", true, func(self func() string, f *keyServer) func(*http.ServeMux) {
			return func(m *http.ServeMux) {
				m.Handle("GET /moved-jwks", redirect(func() string { return f.srv.URL + "/jwks" }))
			}
		}, false},
		{"jwks-same-origin", false, func(self func() string, f *keyServer) func(*http.ServeMux) {
			return func(m *http.ServeMux) {
				m.Handle("GET /moved-jwks", redirect(func() string { return self() + "/jwks" }))
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var is *keyServer
			is = newKeyServer(t, tt.tls, tt.route(func() string { return is.srv.URL }, foreign))
			is.jwksURI = func() string { return is.srv.URL + "/moved-jwks" }
			before := foreign.hits.Load()
			_, err := newVerify(is.srv.URL, is.srv.Client())
			if tt.ok && err != nil {
				t.Fatalf("New: %v", err)
			}
			if !tt.ok {
				if err == nil || !strings.Contains(err.Error(), "redirect to another origin") {
					t.Errorf("New = %v, want the redirect refused", err)
				}
				if n := foreign.hits.Load() - before; n != 0 {
					t.Errorf("the redirect target was requested %d times", n)
				}
			}
		})
	}

	t.Run("metadata-to-another-host", func(t *testing.T) {
		is := newKeyServer(t, false, func(m *http.ServeMux) {
			m.Handle("GET /.well-known/oauth-authorization-server/tenant",
				redirect(func() string { return otherHost(foreign.srv.URL) + "/.well-known/oauth-authorization-server" }))
			m.Handle("GET /tenant/.well-known/openid-configuration",
				redirect(func() string { return otherHost(foreign.srv.URL) + "/.well-known/openid-configuration" }))
		})
		// The foreign server vouches for the issuer and serves its keys:
		// followed, the redirects would succeed.
		foreign.issuer = func() string { return is.srv.URL + "/tenant" }
		t.Cleanup(func() { foreign.issuer = func() string { return foreign.srv.URL } })
		before := foreign.hits.Load()
		_, err := newVerify(is.srv.URL+"/tenant", nil)
		if err == nil || !strings.Contains(err.Error(), "redirect to another origin") {
			t.Errorf("New = %v, want the redirects refused", err)
		}
		if n := foreign.hits.Load() - before; n != 0 {
			t.Errorf("the redirect target was requested %d times", n)
		}
	})

	t.Run("jwks-url-given", func(t *testing.T) {
		is := newKeyServer(t, false, func(m *http.ServeMux) {
			m.Handle("GET /moved-jwks", redirect(func() string { return otherHost(foreign.srv.URL) + "/jwks" }))
		})
		_, err := newVerify(is.srv.URL, nil, verify.WithJWKSURL(is.srv.URL+"/moved-jwks"))
		if err == nil || !strings.Contains(err.Error(), "redirect to another origin") {
			t.Errorf("New = %v, want the redirect refused", err)
		}
	})
}
