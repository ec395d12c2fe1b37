//go:build openssl && cgo

package openssl

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
)

func newRSA(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func load(t testing.TB, priv *rsa.PrivateKey) *RSAKey {
	t.Helper()
	k, err := NewRSAKey(x509.MarshalPKCS1PrivateKey(priv), &priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSignMatchesGo: PKCS#1 v1.5 is deterministic, so OpenSSL and
// crypto/rsa must agree byte for byte, also when signing concurrently.
func TestSignMatchesGo(t *testing.T) {
	priv := newRSA(t)
	k := load(t, priv)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 8 {
				digest := sha256.Sum256([]byte{byte(g), byte(i)})
				got, err := k.Sign(rand.Reader, digest[:], crypto.SHA256)
				if err != nil {
					t.Error(err)
					return
				}
				want, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:])
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(got, want) {
					t.Errorf("digest %x: OpenSSL and crypto/rsa signatures differ", digest)
				}
				if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, digest[:], got); err != nil {
					t.Errorf("digest %x: %v", digest, err)
				}
			}
		})
	}
	wg.Wait()
	if k.Public() != crypto.PublicKey(&priv.PublicKey) {
		t.Error("Public is not the public key given")
	}
}

func TestSignRefuses(t *testing.T) {
	k := load(t, newRSA(t))
	digest := sha256.Sum256([]byte("x"))
	for _, tc := range []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
		why    string
	}{
		{"pss", digest[:], &rsa.PSSOptions{Hash: crypto.SHA256}, "PSS"},
		{"sha384", make([]byte, 48), crypto.SHA384, "only SHA-256"},
		{"no-opts", digest[:], nil, "only SHA-256"},
		{"short-digest", digest[:31], crypto.SHA256, "digest is 31 bytes"},
		{"empty-digest", nil, crypto.SHA256, "digest is 0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := k.Sign(nil, tc.digest, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.why) || sig != nil {
				t.Fatalf("Sign = %x, %v; want an error saying %q", sig, err, tc.why)
			}
		})
	}
}

func TestNewRSAKeyRefuses(t *testing.T) {
	priv, other := newRSA(t), newRSA(t)
	der := x509.MarshalPKCS1PrivateKey(priv)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		der  []byte
		pub  *rsa.PublicKey
		why  string
	}{
		{"empty", nil, &priv.PublicKey, "no key"},
		{"no-public-key", der, nil, "no key"},
		{"garbage", []byte("not a key"), &priv.PublicKey, "load rsa key: "},
		{"truncated", der[:len(der)/2], &priv.PublicKey, "load rsa key: "},
		{"trailing-data", append(append([]byte(nil), der...), 0), &priv.PublicKey, "trailing data"},
		{"ec-key", ecDER, &priv.PublicKey, "load rsa key: "},
		{"other-public-key", der, &other.PublicKey, "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewRSAKey(tc.der, tc.pub)
			if err == nil || !strings.Contains(err.Error(), tc.why) || k != nil {
				t.Fatalf("NewRSAKey = %v, %v; want an error saying %q", k, err, tc.why)
			}
		})
	}
	// A failed load leaves no error queued for the next call on the thread.
	if _, err := load(t, priv).Sign(nil, make([]byte, 32), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
}

// TestKeysAreFreed: an unreachable RSAKey releases its OpenSSL key.
func TestKeysAreFreed(t *testing.T) {
	priv := newRSA(t)
	before := live.Load()
	for range 10 {
		load(t, priv)
	}
	if !testutil.WaitFor(10*time.Second, func() bool { runtime.GC(); return live.Load() <= before }) {
		t.Fatalf("%d OpenSSL keys still live, want %d", live.Load(), before)
	}
}
