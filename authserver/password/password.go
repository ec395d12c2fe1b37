// Package password hashes and checks user passwords with argon2id, in the
// PHC string format, also checks the hashes of users imported from Django
// (django.go) until their first login re-hashes them, and bounds how many hashes run at once so that a flood
// of logins cannot starve the rest of the server.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
}

// OWASP is the OWASP-recommended minimum: 19 MiB, 2 passes, 1 lane.
var OWASP = Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// ErrMalformedHash reports a stored hash that is not an argon2id PHC string.
var ErrMalformedHash = errors.New("malformed password hash")

var b64 = base64.RawStdEncoding

// Hasher hashes and verifies passwords with fixed parameters, at most a
// fixed number at a time.
type Hasher struct {
	params Params
	slots  chan struct{}
	dummy  string // a real hash of a random password, checked for unknown users
}

// NewHasher returns a Hasher with params that runs at most maxConcurrent
// hashes at once (at least one).
func NewHasher(params Params, maxConcurrent int) (*Hasher, error) {
	if params.Memory == 0 || params.Iterations == 0 || params.Parallelism == 0 {
		return nil, fmt.Errorf("new hasher: argon2id parameters must be positive")
	}
	if maxConcurrent < 1 {
		maxConcurrent = 1
	}
	h := &Hasher{params: params, slots: make(chan struct{}, maxConcurrent)}
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		return nil, fmt.Errorf("new hasher: %w", err)
	}
	dummy, err := h.hash(random)
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the PHC string of password under fresh random salt, waiting
// for a free slot or the end of ctx.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash([]byte(password))
}

func (h *Hasher) hash(password []byte) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	p := h.params
	key := argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded. An empty encoded
// (an unknown user) is checked against a dummy hash of the Hasher's own
// cost, so unknown and known users take the same time; it never matches.
// Verify waits for a free slot or the end of ctx.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	known := encoded != ""
	if !known {
		encoded = h.dummy
	}
	p, salt, want, err := decode(encoded)
	if err != nil {
		return h.verifyDjango(ctx, encoded, password)
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(want)))
	h.release()
	return subtle.ConstantTimeCompare(got, want) == 1 && known, nil
}

// verifyDjango checks password against a hash imported from Django (see
// Identify). The check is followed by the dummy argon2id check, in the
// same slot, so that no format costs less than our own hash: a weak
// imported format (few PBKDF2 iterations, an unusable password) must not
// tell who was imported, nor speed up guessing. Formats that cost more
// than argon2id (Django's default PBKDF2 iterations do) cost their own
// time plus ours until the user's first login re-hashes them.
func (h *Hasher) verifyDjango(ctx context.Context, encoded, password string) (bool, error) {
	d, parseErr := parseDjango(encoded)
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	// A hash no format reads is refused, after the same dummy check.
	ok := parseErr == nil && d.check([]byte(password))
	p, salt, want, _ := decode(h.dummy)
	argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(want)))
	return ok, parseErr
}

// NeedsRehash reports whether encoded was made with other parameters than
// the Hasher's, or in another format (any of Django's), so that a
// successful login can upgrade it.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p != h.params
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for password slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

func decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	if p.Memory == 0 || p.Iterations == 0 || p.Parallelism == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}
