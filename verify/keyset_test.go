package verify_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/oauthkit/authserver/verify"
)

// TestKeySetEntries serves a JWKS with odd entries: the unusable ones are
// skipped without hiding the others.
func TestKeySetEntries(t *testing.T) {
	member := func(k *signingKey, edit func(m map[string]any)) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(mustJSON(t, k.jwk(t))), &m); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(m)
		}
		return m
	}
	drop := func(name string) func(map[string]any) {
		return func(m map[string]any) { delete(m, name) }
	}
	set := func(name string, v any) func(map[string]any) {
		return func(m map[string]any) { m[name] = v }
	}

	weakPriv, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak := &signingKey{kid: "weak", alg: jwa.RS256, priv: weakPriv, pub: &weakPriv.PublicKey}
	rsaNoAlg := newKey(t, "rsa-no-alg", jwa.RS256)
	ecNoAlg := newKey(t, "ec-no-alg", jwa.ES256)
	ecWrongCurve := newKey(t, "ec-wrong-curve", jwa.ES256) // published as ES384
	encKey := newKey(t, "enc", jwa.RS256)                  // published for encryption
	dup1 := newKey(t, "dup", jwa.RS256)
	dup2 := newKey(t, "dup-2", jwa.RS256)
	dup2.kid = "dup"
	ed := newKey(t, "ed", jwa.EdDSA)

	doc := map[string]any{"keys": []any{
		map[string]any{"kty": 5},
		member(weak, nil),
		member(rsaNoAlg, drop("alg")),
		member(ecNoAlg, drop("alg")),
		member(ecWrongCurve, set("alg", "ES384")),
		member(encKey, set("use", "enc")),
		map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},
		map[string]any{"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": "AAAA"},
		member(dup1, nil),
		member(dup2, nil),
		member(ed, set("key_ops", []string{"verify"})),
	}}
	is := newIssuer(t)
	is.with(func(is *issuer) { is.rawJWKS = mustJSON(t, doc) })
	clk := newClock()
	v := newVerifier(t, is, clk, verify.WithAlgorithms("RS256", "ES256", "ES384", "EdDSA"))
	claims := is.claims(clk.Now())

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"rsa-without-alg-is-rs256", token(t, rsaNoAlg, claims, nil), nil},
		{"ec-without-alg-is-es256", token(t, ecNoAlg, claims, nil), nil},
		{"key-ops-verify", token(t, ed, claims, nil), nil},
		{"first-of-duplicates", token(t, dup1, claims, nil), nil},
		{"second-of-duplicates", token(t, dup2, claims, nil), verify.ErrSignature},
		{"weak-rsa-skipped", token(t, weak, claims, nil), verify.ErrUnknownKey},
		{"alg-curve-mismatch-skipped", token(t, ecWrongCurve, claims, nil), verify.ErrUnknownKey},
		{"encryption-key-skipped", token(t, encKey, claims, nil), verify.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tt.token); !errors.Is(err, tt.want) {
				t.Errorf("Verify error = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("no-key-for-allowed-alg", func(t *testing.T) {
		v, err := verify.New(context.Background(), is.URL, verify.WithAudience(audience),
			verify.WithAlgorithms("PS256"), verify.WithLogger(nil))
		if err == nil {
			v.Close()
			t.Fatal("New succeeded, want an error")
		}
	})
}
