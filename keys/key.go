package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Signing algorithms (JWA names) that keys can be generated for and that
// Verify accepts. Nothing else is ever accepted: never "none", never HS*.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// MinRSABits is the smallest RSA modulus GenerateKey creates or Unmarshal
// accepts.
const MinRSABits = 2048

// ErrAlgorithm reports an algorithm outside RS256, ES256 and EdDSA, or a
// private key that does not fit its algorithm.
var ErrAlgorithm = errors.New("unsupported signing algorithm")

// State is the place of a key in its lifecycle: next → active → retired.
// Every state is published in the JWKS; only the active key signs.
type State int

// The key states. The zero State is invalid, so that a forgotten field is
// caught rather than read as "next".
const (
	Next    State = iota + 1 // published ahead, not signing yet
	Active                   // signing; exactly one per usable set
	Retired                  // no longer signing, published until Retires
)

// String returns "next", "active" or "retired".
func (s State) String() string {
	switch s {
	case Next:
		return "next"
	case Active:
		return "active"
	case Retired:
		return "retired"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// MarshalText encodes s as its String.
func (s State) MarshalText() ([]byte, error) {
	if s < Next || s > Retired {
		return nil, fmt.Errorf("marshal state: invalid state %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes "next", "active" or "retired".
func (s *State) UnmarshalText(b []byte) error {
	for _, c := range []State{Next, Active, Retired} {
		if string(b) == c.String() {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("unmarshal state: unknown state %q", b)
}

// Key is one signing key: an immutable value. Its kid is the RFC 7638
// JWK thumbprint (SHA-256, base64url) of its public key, so a kid is
// never reused by another key and can be checked against the key it names.
//
// Key formats itself (fmt, slog) as its kid, algorithm and state only:
// the private key is never printed.
type Key struct {
	kid       string
	alg       string
	state     State
	created   time.Time
	activates time.Time
	retires   time.Time
	priv      *keyPair // behind a pointer: fmt prints an address, not the key
}

// keyPair is the parsed key material, shared read-only by copies of a Key.
type keyPair struct {
	signer crypto.Signer
	public crypto.PublicKey
}

// KID returns the key id, the kid of the JWS header and the JWKS.
func (k Key) KID() string { return k.kid }

// Algorithm returns the JWA signing algorithm: RS256, ES256 or EdDSA.
func (k Key) Algorithm() string { return k.alg }

// State returns the lifecycle state of k.
func (k Key) State() State { return k.state }

// Created returns when k was generated.
func (k Key) Created() time.Time { return k.created }

// Activates returns when k starts (or started) signing; zero for a next
// key that is promoted only by hand.
func (k Key) Activates() time.Time { return k.activates }

// Retires returns when a retired key leaves the JWKS (its last token has
// expired); zero unless k is retired.
func (k Key) Retires() time.Time { return k.retires }

// Public returns the public key (*rsa.PublicKey, *ecdsa.PublicKey or
// ed25519.PublicKey), or nil for the zero Key.
func (k Key) Public() crypto.PublicKey {
	if k.priv == nil {
		return nil
	}
	return k.priv.public
}

// Signer returns the private key, parsed once and kept, or nil for the
// zero Key. Callers must not log or persist it except through Marshal.
func (k Key) Signer() crypto.Signer {
	if k.priv == nil {
		return nil
	}
	return k.priv.signer
}

// WithActivates returns a copy of k that is due to start signing at t.
// Only next keys are scheduled; the Manager promotes a due key.
func (k Key) WithActivates(t time.Time) Key {
	k.activates = t
	return k
}

// String returns the public description of k: kid, algorithm and state.
func (k Key) String() string {
	return fmt.Sprintf("key %s (%s, %s)", k.kid, k.alg, k.state)
}

// Format implements fmt.Formatter so that every verb, %#v and %+v
// included, prints String and never the private key.
func (k Key) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, k.String())
}

// LogValue implements slog.LogValuer with the public fields only.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kid", k.kid),
		slog.String("alg", k.alg),
		slog.String("state", k.state.String()),
	)
}

// GenerateKey creates a new key for alg in state Next, created at now and
// not scheduled (see WithActivates). rsaBits applies to RS256 only and must
// be at least MinRSABits. Randomness comes from crypto/rand. The kid of a
// generated key never starts with '-' (see generateKey).
func GenerateKey(alg string, rsaBits int, now time.Time) (Key, error) {
	switch alg {
	case RS256:
		if rsaBits < MinRSABits {
			return Key{}, fmt.Errorf("generate key: rsa bits %d below %d", rsaBits, MinRSABits)
		}
		return generateKey(alg, now, func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, rsaBits) })
	case ES256:
		return generateKey(alg, now, func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	case EdDSA:
		return generateKey(alg, now, func() (crypto.Signer, error) {
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			return priv, err
		})
	}
	return Key{}, fmt.Errorf("generate key: %q: %w", alg, ErrAlgorithm)
}

// maxKeyDraws bounds the draws of generateKey: each draw has a kid that
// starts with '-' one time in 64, so 16 such draws in a row happen with
// probability 2^-96, which only a broken generator reaches.
const maxKeyDraws = 16

// generateKey draws keys from gen until one has a kid that does not
// start with '-'. A kid is pasted into `keys revoke KID` during an
// incident, and one starting with '-' reads as a flag to many command
// lines; the kid stays the key's thumbprint, so a key is drawn again
// rather than its kid encoded otherwise.
func generateKey(alg string, now time.Time, gen func() (crypto.Signer, error)) (Key, error) {
	for range maxKeyDraws {
		signer, err := gen()
		if err != nil {
			return Key{}, fmt.Errorf("generate key: %w", err)
		}
		k, err := newKey(alg, signer, Next, now)
		if err != nil || !strings.HasPrefix(k.kid, "-") {
			return k, err
		}
	}
	return Key{}, fmt.Errorf("generate key: %d keys in a row had a kid starting with '-'", maxKeyDraws)
}

// newKey checks that signer fits alg and derives the kid.
func newKey(alg string, signer crypto.Signer, state State, created time.Time) (Key, error) {
	if err := checkAlgorithm(alg, signer.Public()); err != nil {
		return Key{}, err
	}
	kid, err := thumbprint(signer.Public())
	if err != nil {
		return Key{}, err
	}
	return Key{
		kid:     kid,
		alg:     alg,
		state:   state,
		created: created,
		priv:    &keyPair{signer: signer, public: signer.Public()},
	}, nil
}

// checkAlgorithm reports whether pub is a key for alg.
func checkAlgorithm(alg string, pub crypto.PublicKey) error {
	ok := false
	switch p := pub.(type) {
	case *rsa.PublicKey:
		ok = alg == RS256 && p.N.BitLen() >= MinRSABits
	case *ecdsa.PublicKey:
		ok = alg == ES256 && p.Curve == elliptic.P256()
	case ed25519.PublicKey:
		ok = alg == EdDSA
	}
	if !ok {
		return fmt.Errorf("check key: %T does not fit %q: %w", pub, alg, ErrAlgorithm)
	}
	return nil
}

// thumbprint returns the RFC 7638 SHA-256 JWK thumbprint of pub.
func thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := jwk.FromRaw(pub)
	if err != nil {
		return "", fmt.Errorf("compute kid: %w", err)
	}
	sum, err := j.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("compute kid: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// marshalPrivate returns the PKCS#8 DER form of k's private key.
func (k Key) marshalPrivate() ([]byte, error) {
	if k.priv == nil {
		return nil, fmt.Errorf("marshal key %s: no private key", k.kid)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv.signer)
	if err != nil {
		return nil, fmt.Errorf("marshal key %s: %w", k.kid, err)
	}
	return der, nil
}

// parsePrivate parses PKCS#8 DER, checks it against alg and that its
// thumbprint is kid.
func parsePrivate(kid, alg string, der []byte) (*keyPair, error) {
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse key %s: %w", kid, err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse key %s: %T is not a signer: %w", kid, raw, ErrAlgorithm)
	}
	if err := checkAlgorithm(alg, signer.Public()); err != nil {
		return nil, fmt.Errorf("parse key %s: %w", kid, err)
	}
	got, err := thumbprint(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("parse key %s: %w", kid, err)
	}
	if got != kid {
		return nil, fmt.Errorf("parse key %s: kid does not match the key's thumbprint", kid)
	}
	return &keyPair{signer: signer, public: signer.Public()}, nil
}
