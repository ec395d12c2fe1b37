//go:build openssl && cgo

package keys

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"

	"github.com/oauthkit/authserver/keys/internal/openssl"
)

const haveOpenSSL = true

// openSSLSigner loads the RSA key of k into OpenSSL. Other keys sign with
// Go: OpenSSL would not make P-256 or Ed25519 noticeably faster.
func openSSLSigner(k Key) (crypto.Signer, error) {
	priv, ok := k.Signer().(*rsa.PrivateKey)
	if !ok {
		return k.Signer(), nil
	}
	der := x509.MarshalPKCS1PrivateKey(priv)
	s, err := openssl.NewRSAKey(der, &priv.PublicKey)
	clear(der) // OpenSSL holds its own copy
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenSSLVersion returns the version of the libcrypto this binary signs
// with when keys.signer is openssl.
func OpenSSLVersion() string { return openssl.Version() }
