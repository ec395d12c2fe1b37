package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
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

// sealVersion prefixes every sealed record so that the format (and one day
// a KEK identifier for KEK rotation) can change without guessing.
const sealVersion = 1

// ErrSealed reports that a sealed record could not be opened: the
// encryption key is wrong, the record was altered, or it was moved to
// another key id (the additional data differs).
var ErrSealed = errors.New("wrong encryption key or corrupted record")

// Sealer encrypts private keys at rest with AES-256-GCM under a
// key-encryption key (keys.encryption_key). It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for kek, which must be exactly KEKSize bytes.
// The Sealer keeps only the expanded cipher, not a copy of kek.
func NewSealer(kek []byte) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("create sealer: encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("create sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext and authenticates it together with aad, which is
// not stored: Open must be given the same aad. The result is a version
// byte, a random 96-bit nonce and the ciphertext with its tag. Random
// nonces are safe here: a KEK seals a few records per key-set update, far
// below the 2^32 messages that random 96-bit nonces allow.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return s.aead.Seal(out, out[1:], plaintext, aad), nil
}

// Open decrypts a record made by Seal with the same aad. Any failure
// (wrong KEK, altered record, other aad) wraps ErrSealed.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("open key: %w", ErrSealed)
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
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
