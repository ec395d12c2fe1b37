package keystest

import (
	"crypto"
	"crypto/rsa"
	"fmt"

	"github.com/oauthkit/authserver/keys"
)

// BackendSigner returns the bare crypto.Signer of priv for a signer
// backend (keys.SignerGo or keys.SignerOpenSSL), for benchmarks that
// compare a whole token request with one raw signature of the same
// backend.
func BackendSigner(backend string, priv *rsa.PrivateKey) (crypto.Signer, error) {
	switch backend {
	case keys.SignerGo:
		return priv, nil
	case keys.SignerOpenSSL:
		return openSSLKey(priv)
	}
	return nil, fmt.Errorf("unknown signer %q", backend)
}
