package verify_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/oauthkit/authserver/verify"
)

func TestVerify(t *testing.T) {
	rsaKey := newKey(t, "rsa-1", jwa.RS256)
	ecKey := newKey(t, "ec-1", jwa.ES256)
	edKey := newKey(t, "ed-1", jwa.EdDSA)
	rs384 := newKey(t, "rsa-384", jwa.RS384) // published, not in the default allowlist
	is := newIssuer(t, rsaKey, ecKey, edKey, rs384)
	clk := newClock()
	v := newVerifier(t, is, clk)
	now := clk.Now()

	claims := func(mod func(c map[string]any)) map[string]any {
		c := is.claims(now)
		if mod != nil {
			mod(c)
		}
		return c
	}
	set := func(name string, val any) func(map[string]any) {
		return func(c map[string]any) { c[name] = val }
	}
	del := func(name string) func(map[string]any) {
		return func(c map[string]any) { delete(c, name) }
	}
	valid := token(t, rsaKey, claims(nil), nil)
	parts := strings.Split(valid, ".")
	payload := mustJSON(t, claims(nil))

	// An EC key that claims the RSA key's kid: the token says ES256, the
	// key named is for RS256.
	ecAsRSA := newKey(t, "ec-as-rsa", jwa.ES256)
	ecAsRSA.kid = rsaKey.kid
	// Another RSA key using the published kid: the signature fails.
	impostor := newKey(t, "impostor", jwa.RS256)
	impostor.kid = rsaKey.kid

	// The classic confusion: HS256 keyed with the issuer's public key,
	// which every verifier can download.
	der, err := x509.MarshalPKIXPublicKey(rsaKey.pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hsHeaders := jws.NewHeaders()
	hsHeaders.Set(jws.KeyIDKey, rsaKey.kid)
	hsHeaders.Set(jws.TypeKey, "at+jwt")
	hs, err := jws.Sign([]byte(payload), jws.WithKey(jwa.HS256, pubPEM, jws.WithProtectedHeaders(hsHeaders)))
	if err != nil {
		t.Fatal(err)
	}

	admin := strings.Split(token(t, rsaKey, claims(set("sub", "admin")), nil), ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[10] ^= 1
	edSign := func(in []byte) []byte { return ed25519.Sign(edKey.priv.(ed25519.PrivateKey), in) }
	ecParts := strings.Split(token(t, ecKey, claims(nil), nil), ".")
	ecSig, _ := base64.RawURLEncoding.DecodeString(ecParts[2])
	edParts := strings.Split(token(t, edKey, claims(nil), nil), ".")
	edSig, _ := base64.RawURLEncoding.DecodeString(edParts[2])
	edSig[0] ^= 1

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid-rs256", valid, nil},
		{"valid-es256", token(t, ecKey, claims(nil), nil), nil},
		{"valid-eddsa", token(t, edKey, claims(nil), nil), nil},
		{"typ-media-type", token(t, rsaKey, claims(nil), map[string]any{"typ": "application/at+jwt"}), nil},
		{"typ-upper-case", token(t, rsaKey, claims(nil), map[string]any{"typ": "AT+JWT"}), nil},
		{"aud-array", token(t, rsaKey, claims(set("aud", []string{"billing-api", audience})), nil), nil},
		{"expired-within-leeway", token(t, rsaKey, claims(set("exp", now.Add(-20*time.Second).Unix())), nil), nil},
		{"nbf-within-leeway", token(t, rsaKey, claims(set("nbf", now.Add(20*time.Second).Unix())), nil), nil},
		{"no-scope", token(t, rsaKey, claims(del("scope")), nil), nil},
		{"expired", token(t, rsaKey, claims(set("exp", now.Add(-time.Minute).Unix())), nil), verify.ErrExpired},
		{"not-yet-valid", token(t, rsaKey, claims(set("nbf", now.Add(time.Minute).Unix())), nil), verify.ErrNotYetValid},
		{"issued-in-future", token(t, rsaKey, claims(set("iat", now.Add(time.Minute).Unix())), nil), verify.ErrNotYetValid},
		{"wrong-issuer", token(t, rsaKey, claims(set("iss", "https://evil.example")), nil), verify.ErrIssuer},
		{"issuer-with-slash", token(t, rsaKey, claims(set("iss", is.URL+"/")), nil), verify.ErrIssuer},
		{"missing-issuer", token(t, rsaKey, claims(del("iss")), nil), verify.ErrIssuer},
		{"wrong-audience", token(t, rsaKey, claims(set("aud", "billing-api")), nil), verify.ErrAudience},
		{"wrong-audience-array", token(t, rsaKey, claims(set("aud", []string{"a", "b"})), nil), verify.ErrAudience},
		{"missing-audience", token(t, rsaKey, claims(del("aud")), nil), verify.ErrAudience},
		{"wrong-typ", token(t, rsaKey, claims(nil), map[string]any{"typ": "JWT"}), verify.ErrType},
		{"missing-typ", token(t, rsaKey, claims(nil), map[string]any{"typ": nil}), verify.ErrType},
		{"alg-none", rawToken(`{"alg":"none","typ":"at+jwt","kid":"rsa-1"}`, payload, nil), verify.ErrAlgorithm},
		{"alg-none-with-signature", rawToken(`{"alg":"none","typ":"at+jwt","kid":"rsa-1"}`, payload, edSign), verify.ErrAlgorithm},
		{"hs256-with-public-key", string(hs), verify.ErrAlgorithm},
		{"es256-on-rs256-key", token(t, ecAsRSA, claims(nil), nil), verify.ErrAlgorithm},
		{"alg-not-allowed", token(t, rs384, claims(nil), nil), verify.ErrAlgorithm},
		{"alg-name-upper-case", rawToken(`{"ALG":"EdDSA","typ":"at+jwt","kid":"ed-1"}`, payload, edSign), verify.ErrAlgorithm},
		{"alg-not-string", rawToken(`{"alg":["EdDSA"],"typ":"at+jwt","kid":"ed-1"}`, payload, edSign), verify.ErrMalformed},
		{"missing-alg", rawToken(`{"typ":"at+jwt","kid":"ed-1"}`, payload, edSign), verify.ErrAlgorithm},
		{"unknown-kid", token(t, newKey(t, "nope", jwa.RS256), claims(nil), nil), verify.ErrUnknownKey},
		{"tampered-payload", parts[0] + "." + admin[1] + "." + parts[2], verify.ErrSignature},
		{"tampered-signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig), verify.ErrSignature},
		{"empty-signature", parts[0] + "." + parts[1] + ".", verify.ErrSignature},
		{"es256-short-signature", ecParts[0] + "." + ecParts[1] + "." + base64.RawURLEncoding.EncodeToString(ecSig[:63]), verify.ErrSignature},
		{"es256-der-signature", ecParts[0] + "." + ecParts[1] + "." + base64.RawURLEncoding.EncodeToString(append([]byte{0x30, 0x44}, ecSig...)), verify.ErrSignature},
		{"eddsa-tampered-signature", edParts[0] + "." + edParts[1] + "." + base64.RawURLEncoding.EncodeToString(edSig), verify.ErrSignature},
		{"signed-by-impostor", token(t, impostor, claims(nil), nil), verify.ErrSignature},
		{"empty", "", verify.ErrMalformed},
		{"one-part", parts[0], verify.ErrMalformed},
		{"two-parts", parts[0] + "." + parts[1], verify.ErrMalformed},
		{"four-parts", valid + "." + parts[2], verify.ErrMalformed},
		{"empty-header", "." + parts[1] + "." + parts[2], verify.ErrMalformed},
		{"empty-payload", parts[0] + ".." + parts[2], verify.ErrMalformed},
		{"bad-base64-header", "e30!." + parts[1] + "." + parts[2], verify.ErrMalformed},
		{"bad-base64-payload", parts[0] + ".a+b/." + parts[2], verify.ErrMalformed},
		{"bad-base64-signature", parts[0] + "." + parts[1] + "." + parts[2] + "=", verify.ErrMalformed},
		{"line-break-in-signature", parts[0] + "." + parts[1] + "." + parts[2][:5] + "\n" + parts[2][5:], verify.ErrMalformed},
		{"bad-json-header", rawToken(`{"alg":"EdDSA",`, payload, edSign), verify.ErrMalformed},
		{"header-not-object", rawToken(`"EdDSA"`, payload, edSign), verify.ErrMalformed},
		{"crit-header", rawToken(`{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1","crit":["x"],"x":1}`, payload, edSign), verify.ErrMalformed},
		{"bad-json-payload", token(t, rsaKey, []byte(`{"iss":`), nil), verify.ErrMalformed},
		{"payload-not-object", token(t, rsaKey, []byte(`["iss"]`), nil), verify.ErrMalformed},
		{"payload-null", token(t, rsaKey, []byte(`null`), nil), verify.ErrMalformed},
		{"missing-exp", token(t, rsaKey, claims(del("exp")), nil), verify.ErrMalformed},
		{"exp-not-number", token(t, rsaKey, claims(set("exp", "tomorrow")), nil), verify.ErrMalformed},
		{"aud-not-strings", token(t, rsaKey, claims(set("aud", []any{audience, 7})), nil), verify.ErrMalformed},
		{"scope-not-string", token(t, rsaKey, claims(set("scope", []string{"orders:read"})), nil), verify.ErrMalformed},
		{"oversized", parts[0] + "." + strings.Repeat("A", 70<<10) + "." + parts[2], verify.ErrMalformed},
	}
	sentinels := []error{
		verify.ErrMalformed, verify.ErrAlgorithm, verify.ErrUnknownKey, verify.ErrSignature,
		verify.ErrType, verify.ErrIssuer, verify.ErrAudience, verify.ErrExpired,
		verify.ErrNotYetValid, verify.ErrInsufficientScope,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want success", err)
				}
				if c.Subject != "user-42" {
					t.Errorf("Subject = %q, want user-42", c.Subject)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if c != nil {
				t.Errorf("Verify returned claims with an error")
			}
			for _, s := range sentinels {
				if s != tt.want && errors.Is(err, s) {
					t.Errorf("Verify error %v also matches %v", err, s)
				}
			}
			if strings.Contains(err.Error(), tt.token) && tt.token != "" {
				t.Errorf("error echoes the token: %v", err)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	k := newKey(t, "rsa-1", jwa.RS256)
	is := newIssuer(t, k)
	clk := newClock()
	v := newVerifier(t, is, clk)
	now := clk.Now()
	c := is.claims(now)
	c["aud"] = []string{audience, "billing-api"}
	c["nbf"] = now.Add(-time.Second).Unix()
	c["roles"] = []string{"admin"}
	got, err := v.Verify(context.Background(), token(t, k, c, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := &verify.Claims{
		Issuer:    is.URL,
		Subject:   "user-42",
		ClientID:  "mobile-app",
		JTI:       "jti-1",
		Audience:  []string{audience, "billing-api"},
		Scopes:    []string{"orders:read", "profile"},
		IssuedAt:  time.Unix(now.Unix(), 0),
		ExpiresAt: time.Unix(now.Add(15*time.Minute).Unix(), 0),
		NotBefore: time.Unix(now.Add(-time.Second).Unix(), 0),
		Extra:     map[string]any{"tenant": "acme", "roles": []any{"admin"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("claims (-got +want):\n-%+v\n+%+v", got, want)
	}
	for scope, want := range map[string]bool{"orders:read": true, "profile": true, "orders": false, "": false} {
		if got.HasScope(scope) != want {
			t.Errorf("HasScope(%q) = %v, want %v", scope, !want, want)
		}
	}
}

func TestVerifyOptions(t *testing.T) {
	k := newKey(t, "rsa-1", jwa.RS256)
	ps := newKey(t, "ps-1", jwa.PS256)
	es := newKey(t, "es-384", jwa.ES384)
	es512 := newKey(t, "es-512", jwa.ES512)
	is := newIssuer(t, k, ps, es, es512)
	now := newClock().Now()
	claims := func(name string, val any) map[string]any {
		c := is.claims(now)
		c[name] = val
		return c
	}
	tests := []struct {
		name  string
		opts  []verify.Option
		token string
		want  error
	}{
		{"no-leeway-expired", []verify.Option{verify.WithLeeway(0)},
			token(t, k, claims("exp", now.Add(-time.Second).Unix()), nil), verify.ErrExpired},
		{"no-leeway-expires-now", []verify.Option{verify.WithLeeway(0)},
			token(t, k, claims("exp", now.Unix()), nil), verify.ErrExpired},
		{"no-leeway-fractional-exp", []verify.Option{verify.WithLeeway(0)},
			token(t, k, claims("exp", float64(now.Unix())+0.5), nil), nil},
		{"long-leeway", []verify.Option{verify.WithLeeway(2 * time.Minute)},
			token(t, k, claims("exp", now.Add(-time.Minute).Unix()), nil), nil},
		{"required-scope-present", []verify.Option{verify.WithRequiredScopes("orders:read")},
			token(t, k, claims("x", 1), nil), nil},
		{"required-scope-missing", []verify.Option{verify.WithRequiredScopes("orders:read", "orders:write")},
			token(t, k, claims("x", 1), nil), verify.ErrInsufficientScope},
		{"case-variant-scope-claim", []verify.Option{verify.WithRequiredScopes("admin")},
			token(t, k, claims("Scope", "admin"), nil), verify.ErrInsufficientScope},
		{"without-audience-check", []verify.Option{verify.WithAudience(""), verify.WithoutAudienceCheck()},
			token(t, k, claims("aud", "billing-api"), nil), nil},
		{"other-audience", []verify.Option{verify.WithAudience("billing-api")},
			token(t, k, claims("x", 1), nil), verify.ErrAudience},
		{"ps256-allowed", []verify.Option{verify.WithAlgorithms("RS256", "PS256")},
			token(t, ps, claims("x", 1), nil), nil},
		{"ps256-not-allowed", nil, token(t, ps, claims("x", 1), nil), verify.ErrAlgorithm},
		{"es384-allowed", []verify.Option{verify.WithAlgorithms("ES384", "ES512")},
			token(t, es, claims("x", 1), nil), nil},
		{"es512-allowed", []verify.Option{verify.WithAlgorithms("ES384", "ES512")},
			token(t, es512, claims("x", 1), nil), nil},
		{"rs256-not-allowed", []verify.Option{verify.WithAlgorithms("ES384")},
			token(t, k, claims("x", 1), nil), verify.ErrAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, is, newClock(), tt.opts...)
			_, err := v.Verify(context.Background(), tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	k := newKey(t, "rsa-1", jwa.RS256)
	is := newIssuer(t, k)
	empty := newIssuer(t)
	tests := []struct {
		name   string
		issuer string
		opts   []verify.Option
	}{
		{"no-audience", is.URL, nil},
		{"audience-and-no-check", is.URL, []verify.Option{verify.WithAudience(audience), verify.WithoutAudienceCheck()}},
		{"negative-leeway", is.URL, []verify.Option{verify.WithAudience(audience), verify.WithLeeway(-time.Second)}},
		{"alg-none", is.URL, []verify.Option{verify.WithAudience(audience), verify.WithAlgorithms("none")}},
		{"alg-hs256", is.URL, []verify.Option{verify.WithAudience(audience), verify.WithAlgorithms("RS256", "HS256")}},
		{"no-algorithms", is.URL, []verify.Option{verify.WithAudience(audience), verify.WithAlgorithms()}},
		{"nil-clock", is.URL, []verify.Option{verify.WithAudience(audience), verify.WithClock(nil)}},
		{"nil-client", is.URL, []verify.Option{verify.WithAudience(audience), verify.WithHTTPClient(nil)}},
		{"bad-scope", is.URL, []verify.Option{verify.WithAudience(audience), verify.WithRequiredScopes("a b")}},
		{"relative-issuer", "/issuer", []verify.Option{verify.WithAudience(audience)}},
		{"issuer-with-query", is.URL + "?x=1", []verify.Option{verify.WithAudience(audience)}},
		{"bad-jwks-url", is.URL, []verify.Option{verify.WithAudience(audience), verify.WithJWKSURL("ftp://x/jwks")}},
		{"jwks-not-found", is.URL, []verify.Option{verify.WithAudience(audience), verify.WithJWKSURL(is.URL + "/missing")}},
		{"jwks-without-keys", empty.URL, []verify.Option{verify.WithAudience(audience)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := verify.New(context.Background(), tt.issuer, append(tt.opts, verify.WithLogger(nil))...)
			if err == nil {
				v.Close()
				t.Fatal("New succeeded, want an error")
			}
			if msg := err.Error(); msg != strings.ToLower(msg[:1])+msg[1:] {
				t.Errorf("error not lowercase: %v", err)
			}
		})
	}
}

func TestVerifyConcurrent(t *testing.T) {
	k := newKey(t, "rsa-1", jwa.RS256)
	is := newIssuer(t, k)
	clk := newClock()
	v := newVerifier(t, is, clk)
	tok := token(t, k, is.claims(clk.Now()), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := v.Verify(context.Background(), tok); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
