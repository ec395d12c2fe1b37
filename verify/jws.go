package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// maxTokenSize bounds the work an oversized token can cause. Real access
// tokens are a few hundred bytes to a few kilobytes.
const maxTokenSize = 64 << 10

// keyKind is the family of keys an algorithm verifies with.
type keyKind int

const (
	kindRSA keyKind = iota
	kindRSAPSS
	kindEC
	kindEd25519
)

// An algorithm is a JWS signature algorithm (RFC 7518, RFC 8037) that this
// package verifies.
type algorithm struct {
	name  string
	kind  keyKind
	hash  crypto.Hash    // unused for EdDSA
	curve elliptic.Curve // EC only
}

// algorithms are the supported ones; WithAlgorithms picks among them. none
// and HS* are absent on purpose: they are never accepted.
var algorithms = map[string]*algorithm{
	"RS256": {name: "RS256", kind: kindRSA, hash: crypto.SHA256},
	"RS384": {name: "RS384", kind: kindRSA, hash: crypto.SHA384},
	"RS512": {name: "RS512", kind: kindRSA, hash: crypto.SHA512},
	"PS256": {name: "PS256", kind: kindRSAPSS, hash: crypto.SHA256},
	"PS384": {name: "PS384", kind: kindRSAPSS, hash: crypto.SHA384},
	"PS512": {name: "PS512", kind: kindRSAPSS, hash: crypto.SHA512},
	"ES256": {name: "ES256", kind: kindEC, hash: crypto.SHA256, curve: elliptic.P256()},
	"ES384": {name: "ES384", kind: kindEC, hash: crypto.SHA384, curve: elliptic.P384()},
	"ES512": {name: "ES512", kind: kindEC, hash: crypto.SHA512, curve: elliptic.P521()},
	"EdDSA": {name: "EdDSA", kind: kindEd25519},
}

// header is the part of the JOSE header we read. Other members (jku, x5u,
// jwk...) are ignored on purpose: keys come only from the issuer's JWKS.
type header struct {
	Alg, Kid, Typ string
}

// compact is a split and decoded compact JWS.
type compact struct {
	header       header
	headerLen    int    // length of the header segment
	signingInput []byte // ASCII(BASE64URL(header) || '.' || BASE64URL(payload))
	payload      []byte
	signature    []byte
}

// b64 is base64url without padding, rejecting non-canonical encodings so
// that a signature has exactly one textual form.
var b64 = base64.RawURLEncoding.Strict()

// parseCompact splits token into its three parts and decodes them. A
// single buffer holds a copy of the token, whose front is the signing
// input, and the decoded parts. A header segment found in known is not
// decoded again.
func parseCompact(token string, known map[string]header) (compact, error) {
	var t compact
	if len(token) > maxTokenSize {
		return t, fmt.Errorf("%w: token of %d bytes", ErrMalformed, len(token))
	}
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return t, fmt.Errorf("%w: not three dot-separated parts", ErrMalformed)
	}
	d2 := d1 + 1 + strings.IndexByte(token[d1+1:], '.')
	if d2 == d1 || strings.IndexByte(token[d2+1:], '.') >= 0 {
		return t, fmt.Errorf("%w: not three dot-separated parts", ErrMalformed)
	}
	if strings.ContainsAny(token, "\r\n") {
		// base64 decoding skips line breaks: refuse them, or one token
		// would have many spellings.
		return t, fmt.Errorf("%w: line break in token", ErrMalformed)
	}
	if d1 == 0 || d2 == d1+1 {
		return t, fmt.Errorf("%w: empty header or payload", ErrMalformed)
	}
	n := len(token)
	buf := make([]byte, n, n+b64.DecodedLen(d1)+b64.DecodedLen(d2-d1-1)+b64.DecodedLen(n-d2-1))
	copy(buf, token)
	t.signingInput = buf[:d2:d2]
	t.headerLen = d1
	var err error
	if h, ok := known[token[:d1]]; ok {
		t.header = h
	} else if t.header, err = decodeHeader(&buf, buf[:d1]); err != nil {
		return t, err
	}
	if t.payload, err = decodePart(&buf, buf[d1+1:d2], "payload"); err != nil {
		return t, err
	}
	if t.signature, err = decodePart(&buf, buf[d2+1:n], "signature"); err != nil {
		return t, err
	}
	return t, nil
}

func decodeHeader(buf *[]byte, src []byte) (header, error) {
	var h header
	raw, err := decodePart(buf, src, "header")
	if err != nil {
		return h, err
	}
	// Member names match exactly, unlike encoding/json's decoding into a
	// struct, for which "ALG" would do as "alg".
	m, err := decodeObject(raw)
	if err != nil {
		return h, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	if _, ok := m["crit"]; ok {
		// No extension is understood, so a critical one must be refused
		// (RFC 7515 §4.1.11).
		return h, fmt.Errorf("%w: unsupported crit header", ErrMalformed)
	}
	r := claimReader{m: m, what: "header member"}
	h.Alg, h.Kid, h.Typ = r.str("alg"), r.str("kid"), r.str("typ")
	return h, r.err
}

// decodePart decodes src, a part of the token in *buf, into the spare
// capacity of *buf and returns the decoded bytes.
func decodePart(buf *[]byte, src []byte, what string) ([]byte, error) {
	start := len(*buf)
	out, err := b64.AppendDecode(*buf, src)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: bad base64url", ErrMalformed, what)
	}
	*buf = out
	return out[start:len(out):len(out)], nil
}

// isAccessTokenType reports whether typ is at+jwt, in its short or media
// type form, compared case-insensitively (RFC 9068 §2.1, RFC 7515 §4.1.9).
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

// verify reports whether sig is a valid signature of signingInput by k with
// k's algorithm.
func (k *publicKey) verify(signingInput, sig []byte) bool {
	switch k.alg.kind {
	case kindRSA:
		var sum [sha512.Size]byte
		return rsa.VerifyPKCS1v15(k.rsa, k.alg.hash, digest(sum[:0], k.alg.hash, signingInput), sig) == nil
	case kindRSAPSS:
		var sum [sha512.Size]byte
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: k.alg.hash}
		return rsa.VerifyPSS(k.rsa, k.alg.hash, digest(sum[:0], k.alg.hash, signingInput), sig, opts) == nil
	case kindEC:
		der, ok := ecdsaDER(sig, (k.alg.curve.Params().BitSize+7)/8)
		if !ok {
			return false
		}
		var sum [sha512.Size]byte
		return ecdsa.VerifyASN1(k.ec, digest(sum[:0], k.alg.hash, signingInput), der)
	case kindEd25519:
		return ed25519.Verify(k.ed, signingInput, sig)
	}
	return false
}

// digest appends the hash h of msg to b. The fixed-size Sum functions keep
// the hash state off the heap.
func digest(b []byte, h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(msg)
		return append(b, s[:]...)
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		return append(b, s[:]...)
	default:
		s := sha512.Sum512(msg)
		return append(b, s[:]...)
	}
}

// ecdsaDER converts a JWS ECDSA signature, R || S as two size-byte
// big-endian integers (RFC 7518 §3.4), to the ASN.1 form that
// ecdsa.VerifyASN1 takes.
func ecdsaDER(sig []byte, size int) ([]byte, bool) {
	if len(sig) != 2*size {
		return nil, false
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addASN1Unsigned(b, sig[:size])
		addASN1Unsigned(b, sig[size:])
	})
	der, err := b.Bytes()
	return der, err == nil
}

// addASN1Unsigned adds the big-endian unsigned integer n as a minimal DER
// INTEGER.
func addASN1Unsigned(b *cryptobyte.Builder, n []byte) {
	b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) {
		for len(n) > 1 && n[0] == 0 {
			n = n[1:]
		}
		if n[0]&0x80 != 0 {
			b.AddUint8(0)
		}
		b.AddBytes(n)
	})
}
