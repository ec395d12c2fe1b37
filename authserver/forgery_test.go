package authserver_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/verify"
)

// compact signs header and claims with signer (RS256), or leaves the
// signature to sig when signer is nil.
func compact(t *testing.T, header, claims map[string]any, signer crypto.Signer, sig func(input string) []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	var s []byte
	if signer != nil {
		sum := sha256.Sum256([]byte(input))
		var err error
		if s, err = signer.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	} else {
		s = sig(input)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(s)
}

// TestVerifyRejectsForgeries presents the verifier with tokens an attacker
// (or a misconfigured issuer) could make around a real authserver: each
// fails with its own error. The genuine token and a token signed by the
// server's own key with the same claims pass, so every refusal is the
// check under test.
func TestVerifyRejectsForgeries(t *testing.T) {
	e := newEnv(t, nil)
	v, _ := e.newTokenVerifier(t)
	ctx := context.Background()
	genuine := e.login(t).str("access_token")
	parts := strings.Split(genuine, ".")
	var claims map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(payload, &claims)

	active, ok := e.keys.Set().Active()
	if !ok {
		t.Fatal("no active key")
	}
	header := func(kv ...any) map[string]any {
		h := map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": active.KID()}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(h, kv[i].(string))
			} else {
				h[kv[i].(string)] = kv[i+1]
			}
		}
		return h
	}
	with := func(kv ...any) map[string]any {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(active.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs256 := func(secret []byte) func(string) []byte {
		return func(input string) []byte {
			m := hmac.New(sha256.New, secret)
			m.Write([]byte(input))
			return m.Sum(nil)
		}
	}
	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := e.clock.Now().Unix()
	flip := func(s string) string { // change one character of a base64url part
		b := []byte(s)
		if b[10] == 'A' {
			b[10] = 'B'
		} else {
			b[10] = 'A'
		}
		return string(b)
	}

	if _, err := v.Verify(ctx, compact(t, header(), with(), active.Signer(), nil)); err != nil {
		t.Fatalf("a token re-signed by the server's key is refused: %v", err)
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"alg-none", compact(t, header("alg", "none"), with("scope", "admin"), nil, func(string) []byte { return nil }), verify.ErrAlgorithm},
		{"hs256-with-public-key-pem", compact(t, header("alg", "HS256"), with(), nil, hs256(pubPEM)), verify.ErrAlgorithm},
		{"hs256-with-public-key-der", compact(t, header("alg", "HS256"), with(), nil, hs256(pubDER)), verify.ErrAlgorithm},
		{"es256-claimed-for-rsa-key", compact(t, header("alg", "ES256"), with(), active.Signer(), nil), verify.ErrAlgorithm},
		{"tampered-payload", parts[0] + "." + flip(parts[1]) + "." + parts[2], verify.ErrSignature},
		{"tampered-signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), verify.ErrSignature},
		{"signed-by-another-key", compact(t, header(), with(), stranger, nil), verify.ErrSignature},
		{"unknown-kid", compact(t, header("kid", "not-a-kid-of-ours"), with(), stranger, nil), verify.ErrUnknownKey},
		{"typ-jwt", compact(t, header("typ", "JWT"), with(), active.Signer(), nil), verify.ErrType},
		{"no-typ", compact(t, header("typ", nil), with(), active.Signer(), nil), verify.ErrType},
		{"not-yet-valid", compact(t, header(), with("nbf", now+3600), active.Signer(), nil), verify.ErrNotYetValid},
		{"expired", compact(t, header(), with("exp", now-3600), active.Signer(), nil), verify.ErrExpired},
		{"two-parts", parts[0] + "." + parts[1], verify.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(ctx, tt.token)
			if !errors.Is(err, tt.want) || c != nil {
				t.Fatalf("Verify = %v, %v; want %v", c, err, tt.want)
			}
			if tt.name == "not-yet-valid" {
				return // the server's own introspection does not read nbf: it never sets one
			}
			// The server's own introspection refuses the forgery too.
			if r := e.post(t, "/oauth2/introspect", form("token", tt.token), "svc:"+svcSecret); r.raw != `{"active":false}`+"\n" {
				t.Errorf("introspection of the forgery = %s", r.raw)
			}
		})
	}
}
