package keys_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

// TestBackendsMakeIdenticalTokens: Managers sharing one stored key set
// but not a signer backend issue the very same RS256 token for the same
// claims (PKCS#1 v1.5 is deterministic), and its signature verifies with
// rsa.VerifyPKCS1v15.
func TestBackendsMakeIdenticalTokens(t *testing.T) {
	st, sealer := &keystest.Store{}, newSealer(t)
	var tokens []string
	for _, backend := range signerBackends {
		m := newManager(t, st, sealer, keys.Options{Signer: backend})
		tok, err := m.Sign([]byte(claims))
		if err != nil {
			t.Fatalf("%s: %v", backend, err)
		}
		active, _ := m.Set().Active()
		dot := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
		if err != nil {
			t.Fatalf("%s: %v", backend, err)
		}
		digest := sha256.Sum256([]byte(tok[:dot]))
		if err := rsa.VerifyPKCS1v15(active.Public().(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("%s: %v", backend, err)
		}
		tokens = append(tokens, tok)
	}
	if len(slices.Compact(slices.Clone(tokens))) != 1 {
		t.Fatalf("backends %v made different tokens:\n%s", signerBackends, strings.Join(tokens, "\n"))
	}
}

// TestSignerOption: an unknown backend, or openssl in a binary without
// it, fails Init with an error naming keys.signer.
func TestSignerOption(t *testing.T) {
	start := func(backend string) error {
		m := keys.NewManager(&keystest.Store{}, newSealer(t), keys.Options{Signer: backend, Algorithm: keys.EdDSA, Logger: quiet})
		return m.Init(context.Background())
	}
	if err := start("boringssl"); err == nil || !strings.Contains(err.Error(), `keys.signer: unknown signer "boringssl"`) {
		t.Errorf("Init with signer boringssl: %v", err)
	}
	err := start(keys.SignerOpenSSL)
	if slices.Contains(signerBackends, keys.SignerOpenSSL) {
		if err != nil {
			t.Fatalf("Init with signer openssl: %v", err)
		}
		return
	}
	const want = "keys.signer: openssl: this binary was built without OpenSSL support; build with -tags openssl"
	if !errors.Is(err, keys.ErrNoOpenSSL) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Init with signer openssl = %v, want ErrNoOpenSSL saying %q", err, want)
	}
}

// TestSignWhileRotating signs and verifies concurrently while the active
// key changes and the garbage collector runs, so that a key that leaves
// the signing snapshot (and, with OpenSSL, is freed) is never used by a
// Sign in flight. Run it under -race.
func TestSignWhileRotating(t *testing.T) {
	for _, backend := range signerBackends {
		t.Run(backend, func(t *testing.T) {
			m := newManager(t, nil, nil, keys.Options{Signer: backend})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for ctx.Err() == nil {
						tok, err := m.Sign([]byte(claims))
						if err != nil {
							t.Error(err)
							return
						}
						if _, _, err := m.Verify([]byte(tok)); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			for range 3 {
				if _, err := m.Rotate(ctx, true); err != nil {
					t.Error(err)
				}
				runtime.GC()
			}
			cancel()
			wg.Wait()
		})
	}
}
