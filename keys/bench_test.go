package keys_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

// The benchmarks share one stored RSA-2048 key, so that a Sign benchmark
// and the bare signature it is compared with (BenchmarkRawRSASign,
// BenchmarkRawOpenSSLSign) sign with the same key in the same run.
var (
	benchMu       sync.Mutex
	benchStore    = &keystest.Store{}
	benchSealer   *keys.Sealer
	benchManagers = map[string]*keys.Manager{}
)

// benchManager returns the Manager of the shared key set for backend.
func benchManager(b *testing.B, backend string) *keys.Manager {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if benchSealer == nil {
		benchSealer = newSealer(b)
	}
	m, ok := benchManagers[backend]
	if !ok {
		m = newManager(b, benchStore, benchSealer, keys.Options{Signer: backend})
		benchManagers[backend] = m
	}
	return m
}

// benchRSAKey returns the private key of the shared key set.
func benchRSAKey(b *testing.B) *rsa.PrivateKey {
	active, _ := benchManager(b, keys.SignerGo).Set().Active()
	return active.Signer().(*rsa.PrivateKey)
}

// BenchmarkSign and BenchmarkRawRSASign sign the same payload with the
// same RSA-2048 key; their ratio is the overhead of the JWS layer.
func BenchmarkSign(b *testing.B) { benchSign(b, keys.SignerGo) }

func BenchmarkSignParallel(b *testing.B) { benchSignParallel(b, keys.SignerGo) }

func BenchmarkRawRSASign(b *testing.B) { benchRaw(b, rawSigner(b, keys.SignerGo)) }

func BenchmarkRawRSASignParallel(b *testing.B) { benchRawParallel(b, rawSigner(b, keys.SignerGo)) }

// rawOpenSSL returns the bare signature of priv by OpenSSL; it is set by
// bench_openssl_test.go in builds with OpenSSL.
var rawOpenSSL func(b *testing.B, priv *rsa.PrivateKey) func(digest []byte) ([]byte, error)

// rawSigner returns the bare signature of the shared key with backend.
func rawSigner(b *testing.B, backend string) func(digest []byte) ([]byte, error) {
	priv := benchRSAKey(b)
	if backend != keys.SignerGo {
		return rawOpenSSL(b, priv)
	}
	return func(d []byte) ([]byte, error) { return rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d) }
}

// BenchmarkSignOverhead alternates a Sign with the bare signature of its
// backend, so that both see the same machine load, and reports the ratio
// of their times (sign/raw): the cost of the JWS layer on a busy machine,
// where separate benchmarks drift apart.
func BenchmarkSignOverhead(b *testing.B) {
	for _, backend := range signerBackends {
		b.Run(backend, func(b *testing.B) {
			m := benchManager(b, backend)
			raw := rawSigner(b, backend)
			payload := []byte(claims)
			var signing, bare time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := m.Sign(payload); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				digest := sha256.Sum256(payload)
				if _, err := raw(digest[:]); err != nil {
					b.Fatal(err)
				}
				signing, bare = signing+t1.Sub(t0), bare+time.Since(t1)
			}
			b.ReportMetric(float64(signing)/float64(bare), "sign/raw")
		})
	}
}

func benchSign(b *testing.B, backend string) {
	m := benchManager(b, backend)
	payload := []byte(claims)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := m.Sign(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSignParallel(b *testing.B, backend string) {
	m := benchManager(b, backend)
	payload := []byte(claims)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Sign(payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchRaw measures sign over the SHA-256 of a token's payload: the
// bare signature, without the JWS layer.
func benchRaw(b *testing.B, sign func(digest []byte) ([]byte, error)) {
	payload := []byte(claims)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		digest := sha256.Sum256(payload)
		if _, err := sign(digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRawParallel(b *testing.B, sign func(digest []byte) ([]byte, error)) {
	payload := []byte(claims)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			digest := sha256.Sum256(payload)
			if _, err := sign(digest[:]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	m := benchManager(b, keys.SignerGo)
	token, err := m.Sign([]byte(claims))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Verify([]byte(token)); err != nil {
			b.Fatal(err)
		}
	}
}
