package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// RSA moduli outside these bounds are refused: smaller ones are weak, larger
// ones make each verification expensive.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// A publicKey is a parsed verification key of the issuer, bound to exactly
// one algorithm (RFC 8725 §3.1).
type publicKey struct {
	kid string
	alg *algorithm
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
	ed  ed25519.PublicKey
}

// A keySet is an immutable snapshot of the issuer's keys by kid. A new
// fetch replaces the whole snapshot through an atomic pointer, so readers
// take no lock.
type keySet struct {
	keys map[string]*publicKey
	etag string
	ttl  time.Duration // how long the JWKS response may be cached
	seq  uint64        // order in which the fetch began
}

// jwk holds the members of a JSON Web Key (RFC 7517) that verification
// uses. Private members are never read.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// errNotForSigning marks a key published for another use (encryption):
// skipped without a word.
var errNotForSigning = errors.New("not a signature key")

// parseJWKS parses a JWK Set document. Keys that cannot verify signatures
// here are skipped, so that one odd key does not hide the others: keys for
// another use silently, symmetric keys, unsupported types or algorithms and
// weak or invalid keys with a reason in skipped. The first key with a given
// kid wins.
func parseJWKS(doc []byte) (keys map[string]*publicKey, skipped []error, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, nil, fmt.Errorf("parse jwks: %w", err)
	}
	if set.Keys == nil {
		return nil, nil, errors.New("parse jwks: no keys member")
	}
	keys = make(map[string]*publicKey, len(set.Keys))
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		k, err := parseJWK(&j)
		if err == nil && keys[k.kid] != nil {
			err = errors.New("duplicate kid")
		}
		if errors.Is(err, errNotForSigning) {
			continue
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): %w", i, short(j.Kid), err))
			continue
		}
		keys[k.kid] = k
	}
	return keys, skipped, nil
}

// parseJWK parses one key. A key without alg is bound to the one algorithm
// its type implies: RS256 for RSA, ES256/ES384/ES512 by curve, EdDSA for
// Ed25519.
func parseJWK(j *jwk) (*publicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("%w: use %q", errNotForSigning, j.Use)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return nil, fmt.Errorf("%w: key_ops without verify", errNotForSigning)
	}
	k := &publicKey{kid: j.Kid}
	var err error
	switch j.Kty {
	case "RSA":
		k.rsa, err = parseRSA(j.N, j.E)
		k.alg, err = bindAlg(j.Alg, "RS256", err, kindRSA, kindRSAPSS)
	case "EC":
		var def string
		k.ec, def, err = parseEC(j.Crv, j.X, j.Y)
		k.alg, err = bindAlg(j.Alg, def, err, kindEC)
		if err == nil && k.alg.name != def {
			err = fmt.Errorf("alg %s on curve %s", k.alg.name, j.Crv)
		}
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported OKP curve %q", j.Crv)
		}
		k.ed, err = decodeFixed(j.X, ed25519.PublicKeySize)
		k.alg, err = bindAlg(j.Alg, "EdDSA", err, kindEd25519)
	default:
		return nil, fmt.Errorf("unsupported kty %q", j.Kty)
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// bindAlg returns the algorithm the key is for: alg, or def when alg is
// empty, which must be of one of kinds. err, from parsing the key, passes
// through.
func bindAlg(alg, def string, err error, kinds ...keyKind) (*algorithm, error) {
	if err != nil {
		return nil, err
	}
	if alg == "" {
		alg = def
	}
	a := algorithms[alg]
	if a == nil || !slices.Contains(kinds, a.kind) {
		return nil, fmt.Errorf("unsupported alg %q for this key type", alg)
	}
	return a, nil
}

func parseRSA(n64, e64 string) (*rsa.PublicKey, error) {
	nb, err := b64.DecodeString(n64)
	if err != nil {
		return nil, errors.New("bad n")
	}
	eb, err := b64.DecodeString(e64)
	if err != nil {
		return nil, errors.New("bad e")
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("rsa modulus of %d bits", bits)
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("bad e")
	}
	e := 0
	for _, c := range eb {
		e = e<<8 | int(c)
	}
	if e < 3 || e%2 == 0 || e > 1<<31-1 {
		return nil, fmt.Errorf("bad rsa exponent %d", e)
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

// parseEC parses a NIST curve point and returns it with the algorithm that
// its curve implies.
func parseEC(crv, x64, y64 string) (*ecdsa.PublicKey, string, error) {
	var alg string
	switch crv {
	case "P-256":
		alg = "ES256"
	case "P-384":
		alg = "ES384"
	case "P-521":
		alg = "ES512"
	default:
		return nil, "", fmt.Errorf("unsupported EC curve %q", crv)
	}
	curve := algorithms[alg].curve
	size := (curve.Params().BitSize + 7) / 8
	x, err := decodeFixed(x64, size)
	if err != nil {
		return nil, "", err
	}
	y, err := decodeFixed(y64, size)
	if err != nil {
		return nil, "", err
	}
	point := make([]byte, 0, 1+2*size)
	point = append(append(append(point, 4), x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, "", err
	}
	return pub, alg, nil
}

// decodeFixed decodes a base64url member that must be size bytes long.
func decodeFixed(s string, size int) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("bad coordinate: want %d bytes", size)
	}
	return b, nil
}
