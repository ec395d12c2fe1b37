package keys_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/oauthkit/authserver/keys"
)

const claims = `{"iss":"http://127.0.0.1:8080","sub":"u-1","aud":["api"],"exp":1900000000,"iat":1899999100,"jti":"j-1","client_id":"mobile-app","scope":"profile"}`

// signerBackends lists the signer backends of this build;
// backends_openssl_test.go adds "openssl".
var signerBackends = []string{keys.SignerGo}

// TestSignVerifiedByGoJOSE signs with jwx, through every signer backend,
// and verifies with go-jose, using only what a resource server has: the
// JWKS served over HTTP.
func TestSignVerifiedByGoJOSE(t *testing.T) {
	for _, tc := range algsAndBackends() {
		alg := tc.alg
		t.Run(tc.alg+"/"+tc.backend, func(t *testing.T) {
			m := newManager(t, nil, nil, keys.Options{Algorithm: alg, Signer: tc.backend})
			token, err := m.Sign([]byte(claims))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(m.ServeJWKS))
			defer srv.Close()
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(get(t, srv.URL), &set); err != nil {
				t.Fatal(err)
			}

			jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Protected
			kid := activeKID(m)
			if h.Algorithm != alg || h.KeyID != kid || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
				t.Fatalf("header alg %q kid %q typ %v; want %q %q at+jwt", h.Algorithm, h.KeyID, h.ExtraHeaders[jose.HeaderType], alg, kid)
			}
			rawHeader, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
			if want := `{"alg":"` + alg + `","kid":"` + kid + `","typ":"at+jwt"}`; string(rawHeader) != want {
				t.Fatalf("header (-got +want):\n- %s\n+ %s", rawHeader, want)
			}
			jwk := set.Key(h.KeyID)
			if len(jwk) != 1 {
				t.Fatalf("JWKS has %d keys with kid %q", len(jwk), h.KeyID)
			}
			payload, err := jws.Verify(jwk[0])
			if err != nil {
				t.Fatalf("go-jose rejects the token: %v", err)
			}
			if string(payload) != claims {
				t.Fatalf("payload %s", payload)
			}

			payload, gotKID, err := m.Verify([]byte(token))
			if err != nil || gotKID != kid || string(payload) != claims {
				t.Fatalf("Verify = %s, %q, %v", payload, gotKID, err)
			}
		})
	}
}

type algBackend struct{ alg, backend string }

func algsAndBackends() []algBackend {
	var out []algBackend
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		for _, b := range signerBackends {
			out = append(out, algBackend{alg, b})
		}
	}
	return out
}

func TestVerifyRejects(t *testing.T) {
	m := newManager(t, nil, nil, keys.Options{})
	other := newManager(t, nil, nil, keys.Options{Algorithm: keys.EdDSA})
	active, _ := m.Set().Active()
	kid := active.KID()
	token, err := m.Sign([]byte(claims))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	enc := base64.RawURLEncoding.EncodeToString
	hdr := func(h string) string { return enc([]byte(h)) }
	signingInput := func(h string) string { return hdr(h) + "." + parts[1] }

	// The classic key-confusion attack: HS256 keyed with the public key.
	pubDER, _ := x509.MarshalPKIXPublicKey(active.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsHeader := `{"alg":"HS256","kid":"` + kid + `","typ":"at+jwt"}`
	mac := hmac.New(sha256.New, pubPEM)
	mac.Write([]byte(signingInput(hsHeader)))
	hs256 := signingInput(hsHeader) + "." + enc(mac.Sum(nil))

	// Well signed by the right key, but with headers we must refuse.
	joseSign := func(alg jose.SignatureAlgorithm, extra map[jose.HeaderKey]any) string {
		opts := &jose.SignerOptions{ExtraHeaders: extra}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: active.Signer(), KeyID: kid}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := s.Sign([]byte(claims))
		if err != nil {
			t.Fatal(err)
		}
		out, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	otherToken, _ := other.Sign([]byte(claims))
	otherParts := strings.Split(otherToken, ".")

	for _, tc := range []struct {
		name  string
		why   string // in the error
		token string
	}{
		{"alg-none", "algorithm not allowed", signingInput(`{"alg":"none","kid":"`+kid+`","typ":"at+jwt"}`) + "."},
		{"alg-none-with-signature", "algorithm not allowed", signingInput(`{"alg":"none","kid":"`+kid+`","typ":"at+jwt"}`) + "." + parts[2]},
		{"hs256-keyed-with-public-key", "algorithm not allowed", hs256},
		{"tampered-payload", "bad signature", parts[0] + "." + enc([]byte(strings.Replace(claims, "u-1", "u-2", 1))) + "." + parts[2]},
		{"tampered-signature", "bad signature", parts[0] + "." + parts[1] + "." + enc([]byte("not a signature"))},
		{"unknown-kid", "unknown kid", otherToken},
		{"kid-swapped-to-ours", "algorithm does not match the key", hdr(`{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`) + "." + otherParts[1] + "." + otherParts[2]},
		{"ps256-same-key", "algorithm not allowed", joseSign(jose.PS256, map[jose.HeaderKey]any{jose.HeaderType: "at+jwt"})},
		{"typ-jwt", "typ is not", joseSign(jose.RS256, map[jose.HeaderKey]any{jose.HeaderType: "JWT"})},
		{"typ-missing", "missing typ", joseSign(jose.RS256, nil)},
		{"crit-header", "crit header", joseSign(jose.RS256, map[jose.HeaderKey]any{jose.HeaderType: "at+jwt", "crit": []string{"exp"}, "exp": 1})},
		{"two-parts", "not a compact JWS", parts[0] + "." + parts[1]},
		{"four-parts", "not a compact JWS", token + ".x"},
		{"empty", "not a compact JWS", ""},
		{"garbage", "bad header encoding", "a.b.c"},
		{"header-not-json", "bad header", hdr("not json") + "." + parts[1] + "." + parts[2]},
		{"too-large", "too large", parts[0] + "." + strings.Repeat("A", 20<<10) + "." + parts[2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload, gotKID, err := m.Verify([]byte(tc.token))
			if !errors.Is(err, keys.ErrInvalidToken) {
				t.Fatalf("Verify error = %v, want ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("Verify error = %q, want it to say %q", err, tc.why)
			}
			if payload != nil || gotKID != "" {
				t.Fatalf("Verify returned payload %q, kid %q with its error", payload, gotKID)
			}
		})
	}

	// The same go-jose signer with the right headers is accepted, so the
	// refusals above are about the headers.
	if _, _, err := m.Verify([]byte(joseSign(jose.RS256, map[jose.HeaderKey]any{jose.HeaderType: "at+jwt"}))); err != nil {
		t.Fatalf("well-formed go-jose token refused: %v", err)
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return body
}
