package verify_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/oauthkit/authserver/verify"
)

func TestMiddleware(t *testing.T) {
	k := newKey(t, "rsa-1", jwa.RS256)
	is := newIssuer(t, k)
	clk := newClock()
	v := newVerifier(t, is, clk, verify.WithRequiredScopes("profile"))
	now := clk.Now()

	claims := func(name string, val any) map[string]any {
		c := is.claims(now)
		c[name] = val
		return c
	}
	valid := token(t, k, is.claims(now), nil)
	expired := token(t, k, claims("exp", now.Add(-time.Hour).Unix()), nil)
	otherAud := token(t, k, claims("aud", "billing-api"), nil)
	noScope := token(t, k, claims("scope", "profile"), nil)
	early := token(t, k, claims("nbf", now.Add(time.Hour).Unix()), nil)
	otherIss := token(t, k, claims("iss", "https://evil.example"), nil)
	idToken := token(t, k, is.claims(now), map[string]any{"typ": "JWT"})
	unknownKey := token(t, newKey(t, "unknown", jwa.RS256), is.claims(now), nil)

	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := verify.ClaimsFromContext(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s %v", c.Subject, c.ClientID, c.HasScope("orders:read"))
	})
	mux := http.NewServeMux()
	mux.Handle("/orders", v.Middleware("orders:read")(echo))
	mux.Handle("/profile", v.Middleware()(echo))
	mux.Handle("/admin", v.Middleware("orders:read", "admin")(echo))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	const realm = `Bearer realm="orders-api"`
	tests := []struct {
		name          string
		path          string
		authorization []string
		wantStatus    int
		wantChallenge string // exact WWW-Authenticate value
		wantBody      string // exact body, for 200
	}{
		{"valid", "/orders", []string{"Bearer " + valid}, 200, "", "user-42 mobile-app true"},
		{"scheme-lower-case", "/orders", []string{"bearer " + valid}, 200, "", "user-42 mobile-app true"},
		{"scheme-upper-case", "/orders", []string{"BEARER " + valid}, 200, "", "user-42 mobile-app true"},
		{"default-scopes", "/profile", []string{"Bearer " + noScope}, 200, "", "user-42 mobile-app false"},
		{"missing-token", "/orders", nil, 401, realm, ""},
		{"other-scheme", "/orders", []string{"Basic dXNlcjpwYXNz"}, 401, realm, ""},
		{"empty-bearer", "/orders", []string{"Bearer "}, 400,
			realm + `, error="invalid_request", error_description="the Authorization header is not a single bearer token"`, ""},
		{"two-headers", "/orders", []string{"Bearer " + valid, "Bearer " + valid}, 400,
			realm + `, error="invalid_request", error_description="the Authorization header is not a single bearer token"`, ""},
		{"garbage-token", "/orders", []string{"Bearer not-a-jwt"}, 401,
			realm + `, error="invalid_token", error_description="the access token is invalid"`, ""},
		{"expired-token", "/orders", []string{"Bearer " + expired}, 401,
			realm + `, error="invalid_token", error_description="the access token expired"`, ""},
		{"other-audience", "/orders", []string{"Bearer " + otherAud}, 401,
			realm + `, error="invalid_token", error_description="the access token is not meant for this service"`, ""},
		{"not-yet-valid", "/orders", []string{"Bearer " + early}, 401,
			realm + `, error="invalid_token", error_description="the access token is not valid yet"`, ""},
		{"other-issuer", "/orders", []string{"Bearer " + otherIss}, 401,
			realm + `, error="invalid_token", error_description="the access token is from another issuer"`, ""},
		{"not-an-access-token", "/orders", []string{"Bearer " + idToken}, 401,
			realm + `, error="invalid_token", error_description="the token is not an access token"`, ""},
		{"unknown-key", "/orders", []string{"Bearer " + unknownKey}, 401,
			realm + `, error="invalid_token", error_description="the access token is signed with an unknown key"`, ""},
		{"insufficient-scope", "/orders", []string{"Bearer " + noScope}, 403,
			realm + `, error="insufficient_scope", error_description="the access token lacks a required scope", scope="orders:read"`, ""},
		{"insufficient-scopes", "/admin", []string{"Bearer " + valid}, 403,
			realm + `, error="insufficient_scope", error_description="the access token lacks a required scope", scope="orders:read admin"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.authorization {
				req.Header.Add("Authorization", a)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate:\n got %s\nwant %s", got, tt.wantChallenge)
			}
			if tt.wantStatus == 200 && string(body) != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
			for _, a := range tt.authorization {
				_, tok, _ := strings.Cut(a, " ")
				if tok != "" && (strings.Contains(string(body), tok) || strings.Contains(fmt.Sprint(resp.Header), tok)) {
					t.Errorf("response echoes the token")
				}
			}
		})
	}
}

func TestMiddlewareRealm(t *testing.T) {
	is := newIssuer(t, newKey(t, "rsa-1", jwa.RS256))
	tests := []struct {
		name string
		opts []verify.Option
		want string
	}{
		{"audience", nil, `Bearer realm="orders-api"`},
		{"explicit", []verify.Option{verify.WithRealm(`orders "v2"`)}, `Bearer realm="orders \"v2\""`},
		{"issuer-without-audience", []verify.Option{verify.WithAudience(""), verify.WithoutAudienceCheck()}, `Bearer realm="` + is.URL + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, is, newClock(), tt.opts...)
			rec := httptest.NewRecorder()
			v.Middleware()(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.want {
				t.Errorf("WWW-Authenticate = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMiddlewarePanicsOnInvalidScope(t *testing.T) {
	is := newIssuer(t, newKey(t, "rsa-1", jwa.RS256))
	v := newVerifier(t, is, newClock())
	defer func() {
		if recover() == nil {
			t.Error("Middleware accepted an invalid scope")
		}
	}()
	v.Middleware(`a"b`)
}
