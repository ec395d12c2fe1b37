package password

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Django's password hash formats (django.contrib.auth.hashers), kept as
// Django wrote them so that imported users log in with their passwords;
// the first successful login re-hashes with argon2id (NeedsRehash is true
// for all of them).
const (
	FormatArgon2id     = "argon2id" // ours: PHC "$argon2id$..."
	FormatPBKDF2SHA256 = "pbkdf2_sha256"
	FormatPBKDF2SHA1   = "pbkdf2_sha1"
	FormatDjangoArgon2 = "argon2"
	FormatBcryptSHA256 = "bcrypt_sha256"
	FormatBcrypt       = "bcrypt"
	// FormatUnusable is Django's unusable password ("!" and random
	// characters, from set_unusable_password): it never verifies.
	FormatUnusable = "unusable"
)

// ErrUnsupportedFormat reports a hash in a format that Verify does not
// check (Django's legacy sha1, md5, crypt, or anything else).
var ErrUnsupportedFormat = errors.New("unsupported password hash format")

// maxPBKDF2Iterations bounds what a stored hash may ask for, so that one
// bad row cannot hold a hashing slot for minutes. Django 5.2 uses
// 1,000,000.
const maxPBKDF2Iterations = 10_000_000

// maxArgon2Memory bounds an imported argon2 hash's memory (KiB): Django's
// default is 102400 (100 MiB) and every hashing slot may hold that much.
const maxArgon2Memory = 1 << 20

// djangoHash is a parsed Django hash, ready to check a password.
type djangoHash struct {
	format string
	check  func(password []byte) bool
}

// Identify returns the format of encoded and checks that it parses, so
// that an import refuses what no login could ever verify. The error names
// the format it does not support (only the algorithm, never the hash).
func Identify(encoded string) (string, error) {
	if _, _, _, err := decode(encoded); err == nil {
		return FormatArgon2id, nil
	}
	d, err := parseDjango(encoded)
	if err != nil {
		return "", err
	}
	return d.format, nil
}

// algorithm is the name before the first '$' of a Django hash, for error
// messages: quoted, and only when it looks like an algorithm's name, so
// that a bare hash (Django's legacy unsalted MD5 has no name) is never
// printed.
func algorithm(encoded string) string {
	name, _, ok := strings.Cut(encoded, "$")
	valid := ok && name != "" && len(name) <= 32 && strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0
	if !valid {
		return "(no algorithm name)"
	}
	return strconv.Quote(name)
}

func parseDjango(encoded string) (djangoHash, error) {
	if strings.HasPrefix(encoded, "!") {
		return djangoHash{format: FormatUnusable, check: func([]byte) bool { return false }}, nil
	}
	if strings.HasPrefix(encoded, "$") {
		return djangoHash{}, ErrMalformedHash // a PHC string, ours or not
	}
	name, rest, ok := strings.Cut(encoded, "$")
	if !ok {
		return djangoHash{}, fmt.Errorf("%w %s", ErrUnsupportedFormat, algorithm(encoded))
	}
	var (
		d   djangoHash
		err error
	)
	switch name {
	case FormatPBKDF2SHA256:
		d, err = parsePBKDF2(name, sha256.New, rest)
	case FormatPBKDF2SHA1:
		d, err = parsePBKDF2(name, sha1.New, rest)
	case FormatDjangoArgon2:
		d, err = parseDjangoArgon2(rest)
	case FormatBcryptSHA256:
		d, err = parseBcrypt(name, rest, true)
	case FormatBcrypt:
		d, err = parseBcrypt(name, rest, false)
	default:
		return djangoHash{}, fmt.Errorf("%w %s", ErrUnsupportedFormat, algorithm(encoded))
	}
	if err != nil {
		return djangoHash{}, fmt.Errorf("%w: %s: %w", ErrMalformedHash, name, err)
	}
	return d, nil
}

// parsePBKDF2 reads "iterations$salt$base64(key)" (Django's
// PBKDF2PasswordHasher; the salt is used as its UTF-8 bytes).
func parsePBKDF2(name string, h func() hash.Hash, rest string) (djangoHash, error) {
	parts := strings.Split(rest, "$")
	if len(parts) != 3 {
		return djangoHash{}, errors.New("want iterations$salt$hash")
	}
	iter, err := strconv.Atoi(parts[0])
	if err != nil || iter < 1 || iter > maxPBKDF2Iterations {
		return djangoHash{}, errors.New("bad iteration count")
	}
	salt := []byte(parts[1])
	want, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(want) < 16 {
		return djangoHash{}, errors.New("bad hash")
	}
	return djangoHash{format: name, check: func(password []byte) bool {
		got, err := pbkdf2.Key(h, string(password), salt, iter, len(want))
		return err == nil && subtle.ConstantTimeCompare(got, want) == 1
	}}, nil
}

// parseDjangoArgon2 reads what Django's Argon2PasswordHasher writes after
// "argon2": argon2-cffi's encoding without its leading '$', that is
// "argon2id$v=19$m=…,t=…,p=…$salt$hash" (argon2i for hashes made before
// Django 3.2). The version-less encoding of argon2 1.0 is not supported:
// golang.org/x/crypto implements version 1.3 (19) only.
func parseDjangoArgon2(rest string) (djangoHash, error) {
	parts := strings.Split(rest, "$")
	if len(parts) != 5 {
		return djangoHash{}, errors.New("want variant$v=19$m=,t=,p=$salt$hash")
	}
	variant := parts[0]
	if variant != "argon2id" && variant != "argon2i" {
		return djangoHash{}, fmt.Errorf("variant %q", variant)
	}
	if parts[1] != fmt.Sprintf("v=%d", argon2.Version) {
		return djangoHash{}, errors.New("version must be v=19")
	}
	var p Params
	if _, err := fmt.Sscanf(parts[2], "m=%d,t=%d,p=%d", &p.Memory, &p.Iterations, &p.Parallelism); err != nil {
		return djangoHash{}, errors.New("bad parameters")
	}
	if p.Memory == 0 || p.Memory > maxArgon2Memory || p.Iterations == 0 || p.Iterations > 100 || p.Parallelism == 0 {
		return djangoHash{}, errors.New("parameters out of range")
	}
	salt, err := b64.DecodeString(parts[3])
	if err != nil {
		return djangoHash{}, errors.New("bad salt")
	}
	want, err := b64.DecodeString(parts[4])
	if err != nil || len(want) < 16 {
		return djangoHash{}, errors.New("bad hash")
	}
	kdf := argon2.IDKey
	if variant == "argon2i" {
		kdf = argon2.Key
	}
	return djangoHash{format: FormatDjangoArgon2, check: func(password []byte) bool {
		got := kdf(password, salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(want)))
		return subtle.ConstantTimeCompare(got, want) == 1
	}}, nil
}

// parseBcrypt reads "$2b$12$…" after "bcrypt$" or "bcrypt_sha256$".
// BCryptSHA256PasswordHasher hashes the hex SHA-256 digest of the
// password, so that passwords longer than bcrypt's 72 bytes count whole.
func parseBcrypt(name, rest string, preHash bool) (djangoHash, error) {
	if _, err := bcrypt.Cost([]byte(rest)); err != nil {
		return djangoHash{}, errors.New("bad bcrypt hash")
	}
	stored := []byte(rest)
	return djangoHash{format: name, check: func(password []byte) bool {
		if preHash {
			sum := sha256.Sum256(password)
			password = []byte(hex.EncodeToString(sum[:]))
		}
		return bcrypt.CompareHashAndPassword(stored, password) == nil
	}}, nil
}
