package keys

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// TokenType is the typ header of every access token (RFC 9068).
const TokenType = "at+jwt"

// maxTokenSize bounds what Verify reads; our tokens are far smaller.
const maxTokenSize = 16 << 10

// ErrInvalidToken reports a token that Verify refuses. The wrapping error
// says why, in words safe to log (never the token).
var ErrInvalidToken = errors.New("invalid token")

// allowed is the algorithm allowlist of Verify: never "none", never HS*.
var allowed = map[string]bool{RS256: true, ES256: true, EdDSA: true}

// snapshot is everything Sign, Verify and ServeJWKS read, built once per
// stored version and swapped in atomically.
type snapshot struct {
	version int64
	set     Set
	signer  *signingKey // nil: no active key
	verify  map[string]verifyKey
	jwks    []byte
	etag    string
	kids    string // published kids, in JWKS order: jwks is a function of it
}

// signingKey signs with the active key. Everything but the signature is
// prepared once per key: the backend's crypto.Signer, jwx's signer for the
// algorithm and the encoded protected header. It is immutable, so
// concurrent Sign calls share it without locks.
type signingKey struct {
	kid    string
	key    crypto.Signer // the backend's (Options.Signer)
	jws    jws.Signer    // jwx's signer for the key's algorithm
	header string        // base64url of the protected header JSON, then "."
}

// newSigningKey prepares k, the active key, to sign with backend.
func newSigningKey(k Key, backend string) (*signingKey, error) {
	key, err := backendSigner(backend, k)
	if err != nil {
		return nil, err
	}
	signer, err := jws.NewSigner(jwa.SignatureAlgorithm(k.alg))
	if err != nil {
		return nil, err
	}
	// Members in the order jws.Sign writes them:
	// {"alg":…,"kid":…,"typ":"at+jwt"}.
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		KID string `json:"kid"`
		Typ string `json:"typ"`
	}{k.alg, k.kid, TokenType})
	if err != nil {
		return nil, err
	}
	return &signingKey{kid: k.kid, key: key, jws: signer, header: b64.EncodeToString(h) + "."}, nil
}

// sign returns the compact serialization (RFC 7515 §7.1) of payload
// under the prepared header. jwx computes the signature over the signing
// input; we only concatenate. Building the header once, instead of a
// jws.Headers per call for jws.Sign, saves allocations and avoids the
// jwx v2.1.7 data race of a shared jws.Headers (jws.Sign writes "alg"
// into the headers it is given).
func (s *signingKey) sign(payload []byte) (string, error) {
	const maxSig = 512 // RSA-4096; P-256 and Ed25519 need 64
	buf := make([]byte, 0, len(s.header)+b64.EncodedLen(len(payload))+1+b64.EncodedLen(maxSig))
	buf = append(buf, s.header...)
	buf = b64.AppendEncode(buf, payload)
	sig, err := s.jws.Sign(buf, s.key)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

type verifyKey struct {
	alg      string
	public   crypto.PublicKey
	verifier jws.Verifier
}

func (s *snapshot) activeKID() string {
	if s == nil || s.signer == nil {
		return ""
	}
	return s.signer.kid
}

// newSnapshot prepares set for use, its active key to sign with backend.
// The signing key and the JWKS document of prev are reused when the
// active key and the published kids are the same: a key is loaded into
// the backend once, and an unchanged JWKS keeps its bytes and its ETag.
func newSnapshot(version int64, set Set, prev *snapshot, backend string) (*snapshot, error) {
	published := set.Published()
	snap := &snapshot{
		version: version,
		set:     set,
		verify:  make(map[string]verifyKey, len(published)),
	}
	kids := make([]string, len(published))
	for i, k := range published {
		kids[i] = k.kid
		v, err := jws.NewVerifier(jwa.SignatureAlgorithm(k.alg))
		if err != nil {
			return nil, fmt.Errorf("prepare key %s: %w", k.kid, err)
		}
		snap.verify[k.kid] = verifyKey{alg: k.alg, public: k.Public(), verifier: v}
	}
	snap.kids = strings.Join(kids, ",")
	if active, ok := set.Active(); ok {
		if prev != nil && prev.activeKID() == active.kid {
			snap.signer = prev.signer
		} else {
			s, err := newSigningKey(active, backend)
			if err != nil {
				return nil, fmt.Errorf("prepare key %s: %w", active.kid, err)
			}
			snap.signer = s
		}
	}
	if prev != nil && prev.kids == snap.kids {
		snap.jwks, snap.etag = prev.jwks, prev.etag
		return snap, nil
	}
	doc, err := buildJWKS(published)
	if err != nil {
		return nil, err
	}
	snap.jwks, snap.etag = doc, etagOf(doc)
	return snap, nil
}

// Sign returns the compact JWS of payload, signed by the active key with
// the protected header {"alg":…,"kid":…,"typ":"at+jwt"}. The payload (the
// claims JSON, built by the caller) is signed exactly as given, by jwx
// with the crypto.Signer of the Options.Signer backend, prepared once per
// key. Sign takes no lock and is safe for concurrent use.
func (m *Manager) Sign(payload []byte) (string, error) {
	cur := m.cur.Load()
	if cur == nil || cur.signer == nil {
		return "", fmt.Errorf("sign token: %w", ErrNotReady)
	}
	tok, err := cur.signer.sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}

// Verify checks a compact JWS made by Sign and returns its payload and
// kid. The kid must name a published key (next, active or retired); the
// header alg must be that key's algorithm, from the allowlist RS256, ES256,
// EdDSA; typ must be at+jwt (or application/at+jwt); crit and b64 headers
// are refused. Every refusal wraps ErrInvalidToken. Claims (exp, iss, ...)
// are the caller's to check.
func (m *Manager) Verify(token []byte) (payload []byte, kid string, err error) {
	fail := func(why string) ([]byte, string, error) {
		return nil, "", fmt.Errorf("verify token: %s: %w", why, ErrInvalidToken)
	}
	if len(token) > maxTokenSize {
		return fail("too large")
	}
	cur := m.cur.Load()
	if cur == nil {
		return fail("no keys loaded")
	}
	h, rest, ok1 := bytes.Cut(token, []byte{'.'})
	p, sig, ok2 := bytes.Cut(rest, []byte{'.'})
	if !ok1 || !ok2 || bytes.IndexByte(sig, '.') >= 0 {
		return fail("not a compact JWS")
	}
	hdr, err := parseHeader(h)
	if err != nil {
		return fail(err.Error())
	}
	vk, ok := cur.verify[hdr.kid]
	switch {
	case !allowed[hdr.alg]:
		return fail("algorithm not allowed")
	case !ok:
		return fail("unknown kid")
	case hdr.alg != vk.alg:
		return fail("algorithm does not match the key")
	case !strings.EqualFold(hdr.typ, TokenType) && !strings.EqualFold(hdr.typ, "application/"+TokenType):
		return fail("typ is not " + TokenType)
	}
	rawSig, err := b64.DecodeString(string(sig))
	if err != nil {
		return fail("bad signature encoding")
	}
	if err := vk.verifier.Verify(token[:len(h)+1+len(p)], rawSig, vk.public); err != nil {
		return fail("bad signature")
	}
	payload, err = b64.DecodeString(string(p))
	if err != nil {
		return fail("bad payload encoding")
	}
	return payload, hdr.kid, nil
}

// b64 is base64url without padding, refusing non-canonical trailing bits.
var b64 = base64.RawURLEncoding.Strict()

type header struct{ alg, kid, typ string }

// parseHeader decodes a protected header with exact (case-sensitive)
// member names, which encoding/json alone would not give.
func parseHeader(enc []byte) (header, error) {
	raw, err := b64.DecodeString(string(enc))
	if err != nil {
		return header{}, errors.New("bad header encoding")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return header{}, errors.New("bad header")
	}
	if _, ok := members["crit"]; ok {
		return header{}, errors.New("crit header not supported")
	}
	if _, ok := members["b64"]; ok {
		return header{}, errors.New("b64 header not supported")
	}
	var h header
	for name, dst := range map[string]*string{"alg": &h.alg, "kid": &h.kid, "typ": &h.typ} {
		v, ok := members[name]
		if !ok {
			return header{}, errors.New("missing " + name + " header")
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return header{}, errors.New("bad " + name + " header")
		}
	}
	return h, nil
}
