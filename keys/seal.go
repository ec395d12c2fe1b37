package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// KEKSize is the size in bytes of a key-encryption key (AES-256).
const KEKSize = 32

// The version byte that prefixes every sealed record, so that the format
// (and one day a KEK identifier for KEK rotation) can change without
// guessing.
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

// Sealer encrypts private keys at rest with AES-256-GCM under a key
// derived with HKDF-SHA256 from a key-encryption key
// (keys.encryption_key). It still opens records sealed with the
// key-encryption key itself, as versions before the derivation wrote them.
// It is safe for concurrent use.
type Sealer struct {
	aead   cipher.AEAD // the derived key: seals and opens sealDerived
	legacy cipher.AEAD // kek itself: opens sealRawKEK records only
}

// NewSealer returns a Sealer for kek, which must be exactly KEKSize bytes.
// The Sealer keeps only the expanded ciphers, not a copy of kek.
func NewSealer(kek []byte) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("create sealer: encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	key, err := hkdf.Key(sha256.New, kek, nil, sealLabel, KEKSize)
	if err != nil {
		return nil, fmt.Errorf("create sealer: %w", err)
	}
	aead, err := newGCM(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	legacy, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, legacy: legacy}, nil
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
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealDerived
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return s.aead.Seal(out, out[1:], plaintext, aad), nil
}

// Open decrypts a record made by Seal with the same aad, or one sealed
// with the key-encryption key itself by earlier versions (its version byte
// tells them apart). Any failure (wrong KEK, altered record, other aad)
// wraps ErrSealed.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, fmt.Errorf("open key: %w", ErrSealed)
	}
	var aead cipher.AEAD
	switch sealed[0] {
	case sealDerived:
		aead = s.aead
	case sealRawKEK:
		aead = s.legacy
	default:
		return nil, fmt.Errorf("open key: %w", ErrSealed)
	}
	ns := aead.NonceSize()
	if len(sealed) < 1+ns+aead.Overhead() {
		return nil, fmt.Errorf("open key: %w", ErrSealed)
	}
	plain, err := aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, fmt.Errorf("open key: %w", ErrSealed)
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
