//go:build !openssl || !cgo

package keystest

import (
	"crypto"
	"crypto/rsa"

	"github.com/oauthkit/authserver/keys"
)

func openSSLKey(*rsa.PrivateKey) (crypto.Signer, error) { return nil, keys.ErrNoOpenSSL }
