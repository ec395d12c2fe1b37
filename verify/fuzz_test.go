package verify_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/oauthkit/authserver/verify"
)

// FuzzVerify feeds Verify arbitrary tokens, and arbitrary headers and
// payloads signed with a published Ed25519 key, so that claim decoding is
// reached too. Verify must never panic, must fail with one of the sentinel
// errors, and must succeed only with claims that pass every check.
func FuzzVerify(f *testing.F) {
	rsaKey := newKey(f, "rsa-1", jwa.RS256)
	edKey := newKey(f, "ed-1", jwa.EdDSA)
	is := newIssuer(f, rsaKey, edKey)
	clk := newClock()
	v := newVerifier(f, is, clk)
	claims := is.claims(clk.Now())
	payload := mustJSON(f, claims)
	edHeader := `{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1"}`

	f.Add(token(f, rsaKey, claims, nil), edHeader, payload)
	f.Add(token(f, edKey, claims, nil), `{"alg":"EdDSA","typ":"application/at+jwt","kid":"ed-1","crit":[]}`, `{"exp":1e400}`)
	f.Add("a.b.c", edHeader, `{"iss":1,"aud":[null],"exp":"x","scope":7}`)
	f.Add("..", `{"alg":"none"}`, `{"exp":-1e300,"nbf":1e300,"iat":0.5}`)
	f.Add("eyJhbGciOiJub25lIn0.e30.", `{"alg":"EdDSA","typ":"at+jwt"}`, `null`)
	f.Add("e30.e30.e30.e30", edHeader, `{"iss":"`+is.URL+`","aud":["`+audience+`"],"exp":1e15,"extra":{"a":[1,{}]}}`)

	priv := edKey.priv.(ed25519.PrivateKey)
	sign := func(in []byte) []byte { return ed25519.Sign(priv, in) }
	f.Fuzz(func(t *testing.T, tok, header, payload string) {
		check(t, v, is, tok)
		check(t, v, is, rawToken(header, payload, sign))
	})
}

var sentinels = []error{
	verify.ErrMalformed, verify.ErrAlgorithm, verify.ErrUnknownKey, verify.ErrSignature,
	verify.ErrType, verify.ErrIssuer, verify.ErrAudience, verify.ErrExpired,
	verify.ErrNotYetValid, verify.ErrInsufficientScope,
}

func check(t *testing.T, v *verify.Verifier, is *issuer, tok string) {
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		if c != nil {
			t.Fatalf("claims returned with error %v", err)
		}
		if !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		return
	}
	if c.Issuer != is.URL || !slices.Contains(c.Audience, audience) || c.ExpiresAt.IsZero() {
		t.Fatalf("accepted claims %+v", c)
	}
}
