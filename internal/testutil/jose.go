package testutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// joseAlgs is the allowlist of a resource server that accepts what
// authserver can sign with.
var joseAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// ErrUnknownKID is VerifyJOSE's error when no key of the set has the
// token's kid: the case where a resource server refetches the JWKS.
var ErrUnknownKID = errors.New("unknown kid")

// FetchJWKS gets the JSON Web Key Set at url and decodes it with go-jose.
func FetchJWKS(t testing.TB, url string) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("fetch JWKS: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch JWKS: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	return set
}

// VerifyJOSE verifies the compact JWS token with go-jose, as a resource
// server does: with the one key of set that the header's kid names, which
// must be published for the header's alg. It returns the protected header
// and the payload.
func VerifyJOSE(set jose.JSONWebKeySet, token string) (jose.Header, []byte, error) {
	obj, err := jose.ParseSignedCompact(token, joseAlgs)
	if err != nil {
		return jose.Header{}, nil, err
	}
	h := obj.Signatures[0].Protected
	found := set.Key(h.KeyID)
	switch len(found) {
	case 0:
		return h, nil, fmt.Errorf("%w %q", ErrUnknownKID, h.KeyID)
	case 1:
	default:
		return h, nil, fmt.Errorf("%d keys with kid %q in the JWKS, want 1", len(found), h.KeyID)
	}
	if found[0].Algorithm != h.Algorithm {
		return h, nil, fmt.Errorf("header alg %q, key alg %q", h.Algorithm, found[0].Algorithm)
	}
	payload, err := obj.Verify(found[0])
	if err != nil {
		return h, nil, err
	}
	return h, payload, nil
}

// VerifyWithJOSE fetches the JWKS at jwksURL, verifies token with it as
// VerifyJOSE does and returns the protected header and the decoded claims;
// it fails t if go-jose refuses the token.
func VerifyWithJOSE(t testing.TB, jwksURL, token string) (jose.Header, map[string]any) {
	t.Helper()
	h, payload, err := VerifyJOSE(FetchJWKS(t, jwksURL), token)
	if err != nil {
		t.Fatalf("go-jose refuses the token: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("token claims: %v", err)
	}
	return h, claims
}
