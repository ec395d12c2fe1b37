//go:build openssl && cgo

package keys_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"testing"

	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/internal/openssl"
)

// BenchmarkSignOpenSSL and BenchmarkRawOpenSSLSign sign the same payload
// with the same key through OpenSSL; their ratio is the overhead of the
// JWS layer with the openssl backend.
func BenchmarkSignOpenSSL(b *testing.B) { benchSign(b, keys.SignerOpenSSL) }

// BenchmarkSignParallelOpenSSL is to be compared with
// `openssl speed -multi N rsa2048` at GOMAXPROCS=N.
func BenchmarkSignParallelOpenSSL(b *testing.B) { benchSignParallel(b, keys.SignerOpenSSL) }

func BenchmarkRawOpenSSLSign(b *testing.B) { benchRaw(b, rawSigner(b, keys.SignerOpenSSL)) }

func BenchmarkRawOpenSSLSignParallel(b *testing.B) {
	benchRawParallel(b, rawSigner(b, keys.SignerOpenSSL))
}

func init() { rawOpenSSL = rawOpenSSLSign }

// rawOpenSSLSign returns the bare EVP_PKEY_sign of priv.
func rawOpenSSLSign(b *testing.B, priv *rsa.PrivateKey) func([]byte) ([]byte, error) {
	k, err := openssl.NewRSAKey(x509.MarshalPKCS1PrivateKey(priv), &priv.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	return func(d []byte) ([]byte, error) { return k.Sign(nil, d, crypto.SHA256) }
}
