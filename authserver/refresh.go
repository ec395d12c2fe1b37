package authserver

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// A refresh token is base64url of
//
//	version(1) | family id(16) | generation(4, big endian) | random(32) | mac(16)
//
// The 256 random bits make it unguessable; the MAC (HMAC-SHA256 under a key
// derived from keys.encryption_key, truncated to 128 bits) proves that this
// server issued it, so a forged or mangled token is refused without
// touching the store and can never revoke a family. Only its SHA-256 is
// stored.
//
// During a rotation of keys.encryption_key a token may carry the MAC of a
// key derived from one of keys.previous_encryption_keys: parse tries the
// MAC of every key of the ring (constant time, all of them, bounded by the
// ring's size) rather than read a key id from the token, so the format,
// and a binary from before the keyring, stay as they were. Each refresh
// issues the successor under the current key. docs/security.md gives the
// reasons.
const (
	refreshVersion = 1
	familyIDLen    = 16
	refreshRandLen = 32
	refreshMACLen  = 16
	refreshBodyLen = 1 + familyIDLen + 4 + refreshRandLen
	refreshRawLen  = refreshBodyLen + refreshMACLen
)

var b64url = base64.RawURLEncoding

// DeriveRefreshKey derives the refresh-token MAC key from the key
// encryption key, so that every replica that shares keys.encryption_key
// accepts the refresh tokens of the others.
func DeriveRefreshKey(kek []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, kek, nil, "authserver refresh-token mac v1", 32)
}

// refreshToken is a parsed, authenticated refresh token.
type refreshToken struct {
	text       string // as the client holds it
	raw        []byte // text decoded
	familyID   string // base64url of the 16 id bytes: the store's key
	generation uint32
}

// refreshCodec issues refresh tokens under macKeys[0] and accepts those
// of every key of macKeys.
type refreshCodec struct {
	macKeys [][]byte
	// presented counts the tokens parse accepts, per key of macKeys; nil
	// counts nothing.
	presented []prometheus.Counter
}

func mac(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)[:refreshMACLen]
}

// newFamilyID returns a fresh random family id.
func newFamilyID() (string, error) {
	id := make([]byte, familyIDLen)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("new family id: %w", err)
	}
	return b64url.EncodeToString(id), nil
}

// issue returns a new token of family familyID at generation gen.
func (c refreshCodec) issue(familyID string, gen uint32) (refreshToken, error) {
	id, err := b64url.DecodeString(familyID)
	if err != nil || len(id) != familyIDLen {
		return refreshToken{}, fmt.Errorf("issue refresh token: bad family id")
	}
	raw := make([]byte, refreshBodyLen, refreshRawLen)
	raw[0] = refreshVersion
	copy(raw[1:], id)
	binary.BigEndian.PutUint32(raw[1+familyIDLen:], gen)
	if _, err := rand.Read(raw[1+familyIDLen+4:]); err != nil {
		return refreshToken{}, fmt.Errorf("issue refresh token: %w", err)
	}
	raw = append(raw, mac(c.macKeys[0], raw)...)
	return refreshToken{text: b64url.EncodeToString(raw), raw: raw, familyID: familyID, generation: gen}, nil
}

// errBadRefreshToken covers every token this server did not issue.
var errBadRefreshToken = errors.New("malformed or forged refresh token")

// parse authenticates s. It fails for anything this server did not issue.
func (c refreshCodec) parse(s string) (refreshToken, error) {
	// base64 decoding skips line breaks, so a text of the right length
	// may decode to fewer bytes: refuse them first, and check the decoded
	// length as well, before indexing into it.
	if len(s) != b64url.EncodedLen(refreshRawLen) || strings.ContainsAny(s, "\r\n") {
		return refreshToken{}, errBadRefreshToken
	}
	raw, err := b64url.DecodeString(s)
	if err != nil || len(raw) != refreshRawLen || raw[0] != refreshVersion {
		return refreshToken{}, errBadRefreshToken
	}
	// Every key is tried, whichever matches, so the time taken says
	// nothing about which one did.
	matched := -1
	for i, key := range c.macKeys {
		matched = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare(mac(key, raw[:refreshBodyLen]), raw[refreshBodyLen:]), i, matched)
	}
	if matched < 0 {
		return refreshToken{}, errBadRefreshToken
	}
	if c.presented != nil {
		c.presented[matched].Inc()
	}
	return refreshToken{
		text:       s,
		raw:        raw,
		familyID:   b64url.EncodeToString(raw[1 : 1+familyIDLen]),
		generation: binary.BigEndian.Uint32(raw[1+familyIDLen:]),
	}, nil
}

// hash is what the store keeps of the token.
func (t refreshToken) hash() []byte {
	sum := sha256.Sum256([]byte(t.text))
	return sum[:]
}

// successorAEAD returns the cipher that seals the successor of t under a
// key only the holder of t can derive: the store keeps the successor, but
// never in a usable form.
func (t refreshToken) successorAEAD() (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(t.text), nil, "authserver refresh successor v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealSuccessor seals next so that only a holder of t can open it.
func (t refreshToken) sealSuccessor(next refreshToken) ([]byte, error) {
	aead, err := t.successorAEAD()
	if err != nil {
		return nil, fmt.Errorf("seal successor: %w", err)
	}
	// The raw bytes, not the text: 23 bytes less for the store to keep.
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(next.raw)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal successor: %w", err)
	}
	return aead.Seal(nonce, nonce, next.raw, []byte(t.familyID)), nil
}

// openSuccessor recovers the successor that sealSuccessor sealed for t.
func (c refreshCodec) openSuccessor(t refreshToken, sealed []byte) (refreshToken, error) {
	aead, err := t.successorAEAD()
	if err != nil {
		return refreshToken{}, fmt.Errorf("open successor: %w", err)
	}
	if len(sealed) < aead.NonceSize() {
		return refreshToken{}, fmt.Errorf("open successor: short record")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(t.familyID))
	if err != nil {
		return refreshToken{}, fmt.Errorf("open successor: %w", err)
	}
	c.presented = nil // the server's own successor, not a presented token
	return c.parse(b64url.EncodeToString(plain))
}

// jtiFor derives the access token id issued with a refresh token, so that
// a retried refresh rebuilds the very same access token.
func jtiFor(t refreshToken) string {
	sum := sha256.Sum256([]byte("jti:" + t.text))
	return b64url.EncodeToString(sum[:16])
}

// newJTI returns a random access token id.
func newJTI() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new jti: %w", err)
	}
	return b64url.EncodeToString(b), nil
}
