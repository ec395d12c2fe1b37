package keys

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// JWKSContentType is the Content-Type of the served JWKS. Plain
// application/json rather than application/jwk-set+json: every JWKS client
// accepts it, and some accept nothing else.
const JWKSContentType = "application/json"

// buildJWKS serializes the public halves of keys: kty, kid, alg, use and
// the public parameters only. jwk.FromRaw is given the public key, so no
// private member can appear.
func buildJWKS(keys []Key) ([]byte, error) {
	set := jwk.NewSet()
	for _, k := range keys {
		j, err := jwk.FromRaw(k.Public())
		if err != nil {
			return nil, fmt.Errorf("build jwks: key %s: %w", k.kid, err)
		}
		for name, value := range map[string]any{
			jwk.KeyIDKey:     k.kid,
			jwk.AlgorithmKey: jwa.SignatureAlgorithm(k.alg),
			jwk.KeyUsageKey:  jwk.ForSignature,
		} {
			if err := j.Set(name, value); err != nil {
				return nil, fmt.Errorf("build jwks: key %s: %w", k.kid, err)
			}
		}
		if err := set.AddKey(j); err != nil {
			return nil, fmt.Errorf("build jwks: key %s: %w", k.kid, err)
		}
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("build jwks: %w", err)
	}
	return doc, nil
}

// etagOf returns a strong, quoted entity tag derived from doc.
func etagOf(doc []byte) string {
	sum := sha256.Sum256(doc)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// JWKS returns the serialized JWKS of the published keys and its ETag. The
// document is rebuilt only when the published keys change, so the same
// keys always give the same bytes and ETag. It is nil before Init.
func (m *Manager) JWKS() (doc []byte, etag string) {
	cur := m.cur.Load()
	if cur == nil {
		return nil, ""
	}
	return slices.Clone(cur.jwks), cur.etag
}

// ServeJWKS serves the JWKS for GET and HEAD from memory with
// Content-Type application/json, a strong ETag, 304 Not Modified on a
// matching If-None-Match, and Cache-Control: public, max-age=N with
// N = min(300, PublishAhead/2) seconds, so that verifiers honouring it
// see a next key before it signs. Before Init it answers 503.
func (m *Manager) ServeJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	cur := m.cur.Load()
	if cur == nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "signing keys not loaded", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(m.maxAge))
	h.Set("ETag", cur.etag)
	if etagMatch(r.Header.Values("If-None-Match"), cur.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", JWKSContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(cur.jwks)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(cur.jwks) //nolint:errcheck // the client went away; nothing to do
	}
}

// etagMatch applies If-None-Match (RFC 9110 §13.1.2, weak comparison).
func etagMatch(values []string, etag string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == etag {
				return true
			}
		}
	}
	return false
}
