package verify_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/oauthkit/authserver/verify"
)

// Example protects a route of a resource server with Middleware.
func Example() {
	issuer, sign := startExampleIssuer()
	defer issuer.Close()

	v, err := verify.New(context.Background(), issuer.URL, verify.WithAudience("orders-api"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	mux := http.NewServeMux()
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "orders of %s", c.Subject)
	})
	mux.Handle("GET /orders", v.Middleware("orders:read")(orders))
	api := httptest.NewServer(mux)
	defer api.Close()

	for _, token := range []string{"", sign("orders:read"), sign("profile")} {
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/orders", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Println(resp.StatusCode, string(body))
		} else {
			fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// Output:
	// 401 Bearer realm="orders-api"
	// 200 orders of alice
	// 403 Bearer realm="orders-api", error="insufficient_scope", error_description="the access token lacks a required scope", scope="orders:read"
}

// ExampleVerifier_Verify checks a token outside of HTTP, such as one taken
// from a message queue.
func ExampleVerifier_Verify() {
	issuer, sign := startExampleIssuer()
	defer issuer.Close()

	v, err := verify.New(context.Background(), issuer.URL, verify.WithAudience("orders-api"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	claims, err := v.Verify(context.Background(), sign("orders:read profile"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(claims.Subject, claims.ClientID, claims.Scopes, claims.Extra["tenant"])

	_, err = v.Verify(context.Background(), "not.a.token")
	fmt.Println(errors.Is(err, verify.ErrMalformed))
	// Output:
	// alice mobile-app [orders:read profile] acme
	// true
}

// startExampleIssuer serves the metadata and JWKS of a throwaway Ed25519
// issuer, standing in for authserver, and returns a function that signs
// access tokens with the given scope.
func startExampleIssuer() (*httptest.Server, func(scope string) string) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/.well-known/jwks.json"})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{
			{"kty": "OKP", "crv": "Ed25519", "x": b64(pub), "kid": "k1", "alg": "EdDSA", "use": "sig"},
		}})
	})
	sign := func(scope string) string {
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{
			"iss": srv.URL, "sub": "alice", "aud": "orders-api", "client_id": "mobile-app",
			"iat": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(), "jti": "t1",
			"scope": scope, "tenant": "acme",
		})
		input := b64([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}`)) + "." + b64(claims)
		return input + "." + b64(ed25519.Sign(priv, []byte(input)))
	}
	return srv, sign
}
