//go:build openssl && cgo

package main

import (
	"testing"
)

// TestOpenSSLSigner runs the server with keys.signer openssl: the token
// the printed curl gets verifies with go-jose against the JWKS.
func TestOpenSSLSigner(t *testing.T) {
	s := startServer(t, t.TempDir(), []string{"AUTHSERVER_KEYS_SIGNER=openssl"}, "--dev")
	body := runCurl(t, s.curlLine(t))
	if _, claims := verifyWithJOSE(t, s.base, body["access_token"].(string)); claims["client_id"] != "demo-app" {
		t.Errorf("claims = %v", claims)
	}
}
