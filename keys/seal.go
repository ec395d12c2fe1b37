package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
)

// KEKSize is the size in bytes of a key-encryption key (AES-256).
const KEKSize = 32

// The version byte that prefixes every sealed record, so that the format
// can change without guessing. The id of the key-encryption key that
// sealed a record is stored beside it (keyRecord.KEK), not in these
// bytes, so that a binary from before the keyring still opens what a
// newer one sealed with the same key.
const (
	// sealRawKEK records are sealed with keys.encryption_key itself, as
	// every record was before sealDerived. They are opened, never written.
	sealRawKEK = 1
	// sealDerived records are sealed with a key derived from
	// keys.encryption_key by HKDF under sealLabel.
	sealDerived = 2
)

// sealLabel is the HKDF info of the sealing key. keys.encryption_key also
// keys the refresh-token MAC (under another label, in package
// authserver): each purpose gets its own derived key, so no key bytes
// serve two purposes.
const sealLabel = "authserver key sealing v1"

// ErrSealed reports that a sealed record could not be opened: the
// encryption key is wrong, the record was altered, or it was moved to
// another key id (the additional data differs).
var ErrSealed = errors.New("wrong encryption key or corrupted record")

// kekIDLabel separates key ids from any other hash of a
// key-encryption key.
const kekIDLabel = "authserver kek id v1\x00"

// KEKID returns the id of a key-encryption key: 16 hex digits of the
// SHA-256 of a label and the key. The key cannot be recovered from it, so
// it may be stored beside each sealed record, logged and printed, which
// tells an operator which key a record needs.
func KEKID(kek []byte) string {
	sum := sha256.Sum256(append([]byte(kekIDLabel), kek...))
	return hex.EncodeToString(sum[:8])
}

// Sealer encrypts private keys at rest with AES-256-GCM under a key
// derived with HKDF-SHA256 from a key-encryption key
// (keys.encryption_key). It holds a ring of key-encryption keys: it seals
// with the current one only and opens with any, so that records sealed
// under a previous key (keys.previous_encryption_keys) stay readable until
// they are sealed again. It still opens records sealed with a
// key-encryption key itself, as versions before the derivation wrote
// them. It is safe for concurrent use.
type Sealer struct {
	ring []sealKey // ring[0] seals; every one opens
}

// sealKey is one key-encryption key of the ring, expanded.
type sealKey struct {
	id     string
	aead   cipher.AEAD // the derived key: seals and opens sealDerived
	legacy cipher.AEAD // kek itself: opens sealRawKEK records only
}

// NewSealer returns a Sealer that seals with kek and opens with kek and
// every key of previous; each must be exactly KEKSize bytes. A key that
// repeats one before it is ignored. The Sealer keeps only the expanded
// ciphers, not a copy of the keys.
func NewSealer(kek []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for _, k := range append([][]byte{kek}, previous...) {
		if len(k) != KEKSize {
			return nil, fmt.Errorf("create sealer: encryption key is %d bytes, want %d", len(k), KEKSize)
		}
		id := KEKID(k)
		if slices.ContainsFunc(s.ring, func(sk sealKey) bool { return sk.id == id }) {
			continue
		}
		sk, err := newSealKey(k)
		if err != nil {
			return nil, err
		}
		sk.id = id
		s.ring = append(s.ring, sk)
	}
	return s, nil
}

func newSealKey(kek []byte) (sealKey, error) {
	key, err := hkdf.Key(sha256.New, kek, nil, sealLabel, KEKSize)
	if err != nil {
		return sealKey{}, fmt.Errorf("create sealer: %w", err)
	}
	aead, err := newGCM(key)
	clear(key)
	if err != nil {
		return sealKey{}, err
	}
	legacy, err := newGCM(kek)
	if err != nil {
		return sealKey{}, err
	}
	return sealKey{aead: aead, legacy: legacy}, nil
}

// KeyID returns the id of the key that seals (see KEKID).
func (s *Sealer) KeyID() string { return s.ring[0].id }

// PreviousKeyIDs returns the ids of the keys that only open, in the order
// they were given.
func (s *Sealer) PreviousKeyIDs() []string {
	ids := make([]string, 0, len(s.ring)-1)
	for _, k := range s.ring[1:] {
		ids = append(ids, k.id)
	}
	return ids
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("create sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create sealer: %w", err)
	}
	return aead, nil
}

// Seal encrypts plaintext and authenticates it together with aad, which is
// not stored: Open must be given the same aad. The result is a version
// byte (sealDerived), a random 96-bit nonce and the ciphertext with its
// tag, under the derived key. Random
// nonces are safe here: a KEK seals a few records per key-set update, far
// below the 2^32 messages that random 96-bit nonces allow.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := s.ring[0].aead
	ns := aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+aead.Overhead())
	out[0] = sealDerived
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return aead.Seal(out, out[1:], plaintext, aad), nil
}

// Open decrypts a record made by Seal with the same aad, or one sealed
// with a key-encryption key itself by earlier versions (its version byte
// tells them apart), trying each key of the ring in turn. Any failure
// (no key of the ring fits, altered record, other aad) wraps ErrSealed.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	plain, _, err := s.OpenFrom(sealed, aad, "")
	return plain, err
}

// OpenFrom is Open for a record stored with the id of the key that sealed
// it: that key alone is tried, and a key missing from the ring is an error
// that names it. An empty kekID (records written before ids were stored)
// tries every key. It returns the id of the key that opened the record.
func (s *Sealer) OpenFrom(sealed, aad []byte, kekID string) (plain []byte, openedBy string, err error) {
	ring := s.ring
	if kekID != "" {
		i := slices.IndexFunc(ring, func(k sealKey) bool { return k.id == kekID })
		if i < 0 {
			return nil, "", fmt.Errorf("open key: sealed with encryption key %s, which is neither keys.encryption_key (%s) nor among keys.previous_encryption_keys: %w", kekID, s.KeyID(), ErrSealed)
		}
		ring = ring[i : i+1]
	}
	for _, k := range ring {
		if plain, err := k.open(sealed, aad); err == nil {
			return plain, k.id, nil
		}
	}
	return nil, "", fmt.Errorf("open key: %w", ErrSealed)
}

func (k sealKey) open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, ErrSealed
	}
	var aead cipher.AEAD
	switch sealed[0] {
	case sealDerived:
		aead = k.aead
	case sealRawKEK:
		aead = k.legacy
	default:
		return nil, ErrSealed
	}
	ns := aead.NonceSize()
	if len(sealed) < 1+ns+aead.Overhead() {
		return nil, ErrSealed
	}
	plain, err := aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

// LoadOrCreateKEKFile returns the key-encryption key stored base64-encoded
// in the file at path, creating it (with 32 bytes from crypto/rand) when it
// does not exist; created reports whether this call created it.
//
// The file is created with mode 0600 (its directory, if missing, with
// 0700) and appears atomically with its full content: it is written to a
// temporary file and hard-linked into place, so when several processes
// race, exactly one file wins and every caller returns its key.
//
// An existing file that grants any permission to group or others is
// refused with an error (except on Windows, which has no such bits): a
// readable KEK would unseal every signing key.
func LoadOrCreateKEKFile(path string) (kek []byte, created bool, err error) {
	kek, err = readKEKFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return kek, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create kek file: %w", err)
	}
	fresh := make([]byte, KEKSize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, false, fmt.Errorf("create kek file: %w", err)
	}
	won, err := publishFile(dir, path, []byte(base64.StdEncoding.EncodeToString(fresh)+"\n"))
	if err != nil {
		return nil, false, fmt.Errorf("create kek file: %w", err)
	}
	if won {
		return fresh, true, nil
	}
	kek, err = readKEKFile(path)
	return kek, false, err
}

// publishFile writes data to a temporary file in dir and links it to path.
// It reports false, without error, if path already existed.
func publishFile(dir, path string, data []byte) (bool, error) {
	tmp, err := os.CreateTemp(dir, ".kek-*") // mode 0600
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func readKEKFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read kek file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read kek file: %w", err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("read kek file: %s has mode %04o, readable by group or others: chmod 600 it", path, info.Mode().Perm())
	}
	raw, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("read kek file: %w", err)
	}
	kek, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(raw)))
	if err != nil || len(kek) != KEKSize {
		return nil, fmt.Errorf("read kek file: %s does not hold a base64 %d-byte key", path, KEKSize)
	}
	return kek, nil
}
