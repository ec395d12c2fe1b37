//go:build openssl && cgo

package keystest

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"

	"github.com/oauthkit/authserver/keys/internal/openssl"
)

func openSSLKey(priv *rsa.PrivateKey) (crypto.Signer, error) {
	return openssl.NewRSAKey(x509.MarshalPKCS1PrivateKey(priv), &priv.PublicKey)
}
