package keys

import (
	"crypto"
	"errors"
	"fmt"
)

// Signer backends: the values of Options.Signer (config keys.signer).
const (
	// SignerGo signs with the Go standard library: crypto/rsa,
	// crypto/ecdsa, crypto/ed25519. It is the default and needs no cgo.
	// A binary built with GOEXPERIMENT=boringcrypto runs the same code on
	// BoringCrypto underneath.
	SignerGo = "go"
	// SignerOpenSSL signs RS256 with OpenSSL's libcrypto, which costs less
	// CPU per signature than crypto/rsa (figures in docs/performance.md,
	// "Choosing a signing backend"). It needs a binary built with -tags
	// openssl and cgo. ES256 and EdDSA keys keep signing with Go, which is
	// fast for them.
	SignerOpenSSL = "openssl"
)

// ErrNoOpenSSL reports that Options.Signer is "openssl" in a binary built
// without OpenSSL support: without -tags openssl, or with CGO_ENABLED=0.
var ErrNoOpenSSL = errors.New("this binary was built without OpenSSL support; build with -tags openssl")

// checkSigner reports whether backend can sign in this binary.
func checkSigner(backend string) error {
	switch backend {
	case SignerGo:
		return nil
	case SignerOpenSSL:
		if !haveOpenSSL {
			return fmt.Errorf("keys.signer: openssl: %w", ErrNoOpenSSL)
		}
		return nil
	}
	return fmt.Errorf("keys.signer: unknown signer %q, want %q or %q", backend, SignerGo, SignerOpenSSL)
}

// backendSigner returns the crypto.Signer with which backend signs for k.
func backendSigner(backend string, k Key) (crypto.Signer, error) {
	if err := checkSigner(backend); err != nil {
		return nil, err
	}
	if backend == SignerOpenSSL {
		return openSSLSigner(k)
	}
	return k.Signer(), nil
}
