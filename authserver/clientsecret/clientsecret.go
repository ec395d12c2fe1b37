// Package clientsecret makes OAuth2 client secrets and the hashes that
// stand for them in the configuration (clients[].secret_hash): "sha256:"
// and the unpadded base64url of the secret's SHA-256. Secrets are long
// random strings, so one SHA-256, compared in constant time, is the right
// cost per request; a password hash would only slow every request down.
package clientsecret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MinLen is the shortest secret Hash accepts: the SHA-256 compare is only
// a sound check for high-entropy secrets.
const MinLen = 32

const prefix = "sha256:"

// New returns a fresh random secret (256 bits, base64url) and its hash.
func New() (secret, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("new client secret: %w", err)
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, digest(secret), nil
}

// Hash returns the configuration hash of secret. It refuses secrets
// shorter than MinLen.
func Hash(secret string) (string, error) {
	if len(secret) < MinLen {
		return "", fmt.Errorf("hash client secret: secret is %d characters, want at least %d", len(secret), MinLen)
	}
	return digest(secret), nil
}

func digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Decode returns the 32-byte SHA-256 digest held in a hash made by Hash.
func Decode(hash string) ([]byte, error) {
	enc, ok := strings.CutPrefix(hash, prefix)
	if !ok {
		return nil, fmt.Errorf("secret hash must start with %q: create one with `authserver clients hash-secret`", prefix)
	}
	sum, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, errors.New("secret hash is not unpadded base64url after \"sha256:\"")
	}
	if len(sum) != sha256.Size {
		return nil, fmt.Errorf("secret hash holds %d bytes, want %d", len(sum), sha256.Size)
	}
	return sum, nil
}

// idLabel separates the ids of secret hashes from any other use of
// SHA-256 over them.
const idLabel = "authserver client secret id v1\x00"

// ID returns a short name for the secret behind hash: 8 hex digits of the
// SHA-256 of a label and the hash. Neither the secret nor its hash can be
// recovered from it, so it may appear in logs, metrics and `config check`,
// where it tells an operator which of a client's secrets is in use.
func ID(hash string) string {
	sum := sha256.Sum256([]byte(idLabel + hash))
	return hex.EncodeToString(sum[:4])
}

// Live returns a client's live secret hashes, secretHash (the
// configuration's secret_hash) first and then more (secret_hashes),
// without empty entries or repeats: any of them authenticates the client.
func Live(secretHash string, more []string) []string {
	var out []string
	for _, h := range append([]string{secretHash}, more...) {
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}
