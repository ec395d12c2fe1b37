//go:build unix

package authserver_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redisstoretest"
)

// TestAllocationCeilings holds each endpoint's heap allocations per
// request (a response recorder and one handler call, as BenchmarkHandler*
// count allocs/token) at what they are now, with a little room (issue 16:
// a target per endpoint). A change that allocates more per request fails
// here; lower a ceiling when the figure drops.
func TestAllocationCeilings(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector allocates")
	}
	redisEnv := func(t *testing.T) *env {
		st := redisstoretest.Open(t)
		return newEnv(t, func(o *authserver.Options) { o.Store = st })
	}
	embeddedEnv := func(t *testing.T) *env { return newEnv(t, nil) }
	refresh := func(e *env) nextRequest {
		rt := e.login(e.t).str("refresh_token")
		return refreshChain(&rt)
	}
	jwks := func(*httptest.ResponseRecorder) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	}
	tests := []struct {
		name    string
		ceiling float64
		env     func(t *testing.T) *env
		next    func(e *env) nextRequest
	}{
		{"client_credentials", 45, embeddedEnv, func(*env) nextRequest { return clientCredentials }},
		{"refresh embedded", 270, embeddedEnv, refresh},
		{"refresh Redis", 145, redisEnv, refresh},
		{"jwks", 20, embeddedEnv, func(*env) nextRequest { return jwks }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.env(t)
			next, serve := tc.next(e), serveOK(t, e.srv.Handler())
			last := serve(next(nil)) // first-use work: sync.Once, pools
			if t.Failed() {
				t.FailNow()
			}
			got, _ := allocsPerRequest(50, next, serve, last)
			t.Logf("%.1f allocations per request (ceiling %.0f)", got, tc.ceiling)
			if got > tc.ceiling {
				t.Errorf("%.1f allocations per request, over the ceiling of %.0f", got, tc.ceiling)
			}
		})
	}
}
