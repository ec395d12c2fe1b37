package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/verify"
)

// t0 is the fake clock's start.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

const audience = "orders-api"

// newClock returns a fake clock at t0.
func newClock() *testutil.Clock { return testutil.NewClock(t0) }

// A signingKey is a private key of the test issuer.
type signingKey struct {
	kid  string
	alg  jwa.SignatureAlgorithm
	priv any
	pub  any
}

var (
	keyCacheMu sync.Mutex
	keyCache   = map[string]any{}
)

// newKey returns a key for alg. Keys are cached by kid and alg across
// tests, because generating RSA keys is slow (more so under -race).
func newKey(t testing.TB, kid string, alg jwa.SignatureAlgorithm) *signingKey {
	t.Helper()
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	name := kid + "/" + alg.String()
	priv, ok := keyCache[name]
	if !ok {
		var err error
		switch alg {
		case jwa.RS256, jwa.RS384, jwa.PS256:
			priv, err = rsa.GenerateKey(rand.Reader, 2048)
		case jwa.ES256:
			priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case jwa.ES384:
			priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		case jwa.ES512:
			priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		case jwa.EdDSA:
			_, priv, err = ed25519.GenerateKey(rand.Reader)
		default:
			t.Fatalf("newKey: unsupported alg %s", alg)
		}
		if err != nil {
			t.Fatal(err)
		}
		keyCache[name] = priv
	}
	k := &signingKey{kid: kid, alg: alg, priv: priv}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		k.pub = &p.PublicKey
	case *ecdsa.PrivateKey:
		k.pub = &p.PublicKey
	case ed25519.PrivateKey:
		k.pub = p.Public()
	}
	return k
}

// jwk returns the public JWK of k, as authserver publishes it.
func (k *signingKey) jwk(t testing.TB) jwk.Key {
	t.Helper()
	j, err := k.toJWK()
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// toJWK is jwk without a testing.TB, for the issuer's handlers, which also
// serve fuzz targets (whose *testing.F may not be used inside the target).
func (k *signingKey) toJWK() (jwk.Key, error) {
	j, err := jwk.FromRaw(k.pub)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{jwk.KeyIDKey: k.kid, jwk.AlgorithmKey: k.alg, jwk.KeyUsageKey: "sig"} {
		if err := j.Set(name, v); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// issuer is an in-test authorization server: metadata and JWKS over real
// HTTP, with request counters for the tests to watch.
type issuer struct {
	t   testing.TB
	srv *httptest.Server
	URL string

	mu           sync.Mutex
	keys         []*signingKey
	cacheControl string
	metaIssuer   string // issuer named by the metadata
	serveRFC8414 bool
	serveOIDC    bool
	failJWKS     bool   // answer JWKS requests with 500
	rawJWKS      string // served instead of the keys when set
	jwksHits     int
	notModified  int
	metaHits     map[string]int
	kidsServed   []map[string]bool // key ids of each JWKS response
	hit          chan struct{}     // closed and replaced on each JWKS request
}

// newIssuer starts an issuer publishing keys, with Cache-Control max-age=3600
// so that no background refresh happens unless a test asks for it.
func newIssuer(t testing.TB, keys ...*signingKey) *issuer {
	t.Helper()
	is := &issuer{
		t:            t,
		keys:         keys,
		cacheControl: "public, max-age=3600",
		serveRFC8414: true,
		serveOIDC:    true,
		metaHits:     map[string]int{},
		hit:          make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		is.metadata(w, r, &is.serveRFC8414)
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server/tenant", func(w http.ResponseWriter, r *http.Request) {
		is.metadata(w, r, &is.serveRFC8414)
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.metadata(w, r, &is.serveOIDC)
	})
	mux.HandleFunc("GET /tenant/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.metadata(w, r, &is.serveOIDC)
	})
	mux.HandleFunc("GET /jwks", is.jwks)
	is.srv = httptest.NewServer(mux)
	is.URL = is.srv.URL
	is.metaIssuer = is.URL
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) metadata(w http.ResponseWriter, r *http.Request, serve *bool) {
	is.mu.Lock()
	is.metaHits[r.URL.Path]++
	ok, name := *serve, is.metaIssuer
	is.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":         name,
		"token_endpoint": is.URL + "/oauth2/token",
		"jwks_uri":       is.URL + "/jwks",
	})
}

func (is *issuer) jwks(w http.ResponseWriter, r *http.Request) {
	is.mu.Lock()
	defer func() {
		close(is.hit)
		is.hit = make(chan struct{})
		is.mu.Unlock()
	}()
	is.jwksHits++
	if is.failJWKS {
		is.kidsServed = append(is.kidsServed, nil)
		http.Error(w, "unavailable", http.StatusInternalServerError)
		return
	}
	set := jwk.NewSet()
	kids := map[string]bool{}
	for _, k := range is.keys {
		j, err := k.toJWK()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		set.AddKey(j)
		kids[k.kid] = true
	}
	is.kidsServed = append(is.kidsServed, kids)
	body, err := json.Marshal(set)
	if is.rawJWKS != "" {
		body = []byte(is.rawJWKS)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + strconv.Itoa(len(body)) + "-" + base64.RawURLEncoding.EncodeToString(sum[:9]) + `"`
	w.Header().Set("Cache-Control", is.cacheControl)
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		is.notModified++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(body)
}

// with runs f under the issuer's lock, to change what it serves.
func (is *issuer) with(f func(is *issuer)) {
	is.mu.Lock()
	defer is.mu.Unlock()
	f(is)
}

func (is *issuer) addKey(k *signingKey) { is.with(func(is *issuer) { is.keys = append(is.keys, k) }) }

func (is *issuer) removeKey(kid string) {
	is.with(func(is *issuer) {
		for i, k := range is.keys {
			if k.kid == kid {
				is.keys = append(is.keys[:i:i], is.keys[i+1:]...)
				return
			}
		}
	})
}

func (is *issuer) hits() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.jwksHits
}

// awaitJWKS waits, without polling, until cond holds, checking it after
// each JWKS request.
func (is *issuer) awaitJWKS(cond func(is *issuer) bool) {
	is.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		is.mu.Lock()
		ok, ch := cond(is), is.hit
		is.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			is.t.Fatal("timed out waiting for JWKS requests")
		}
	}
}

// servedWith reports how many JWKS responses so far included kid.
func (is *issuer) servedWith(kid string) int {
	n := 0
	for _, kids := range is.kidsServed {
		if kids[kid] {
			n++
		}
	}
	return n
}

// claims returns the claims authserver puts in an access token, at now.
func (is *issuer) claims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       is.URL,
		"sub":       "user-42",
		"aud":       audience,
		"exp":       now.Add(15 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"jti":       "jti-1",
		"client_id": "mobile-app",
		"scope":     "orders:read profile",
		"tenant":    "acme",
	}
}

// token signs claims with k, with header typ at+jwt and kid, plus the
// header members in extra (a nil value removes a member).
func token(t testing.TB, k *signingKey, claims any, extra map[string]any) string {
	t.Helper()
	payload, ok := claims.([]byte)
	if !ok {
		var err error
		if payload, err = json.Marshal(claims); err != nil {
			t.Fatal(err)
		}
	}
	h := jws.NewHeaders()
	members := map[string]any{jws.KeyIDKey: k.kid, jws.TypeKey: "at+jwt"}
	for name, v := range extra {
		members[name] = v
	}
	for name, v := range members {
		if v == nil {
			continue
		}
		if err := h.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(k.alg, k.priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// rawToken assembles a compact JWS from raw header and payload JSON, with
// the signature sign returns (none when sign is nil).
func rawToken(header, payload string, sign func(signingInput []byte) []byte) string {
	in := b64(header) + "." + b64(payload)
	if sign == nil {
		return in + "."
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(in)))
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// newVerifier returns a verifier of is's tokens for audience on clk,
// closed at the end of the test.
func newVerifier(t testing.TB, is *issuer, clk *testutil.Clock, opts ...verify.Option) *verify.Verifier {
	t.Helper()
	all := append([]verify.Option{
		verify.WithAudience(audience),
		verify.WithClock(clk.Now),
		verify.WithLogger(nil),
	}, opts...)
	v, err := verify.New(context.Background(), is.URL, all...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
