//go:build openssl && cgo

package keys_test

import "github.com/oauthkit/authserver/keys"

func init() { signerBackends = append(signerBackends, keys.SignerOpenSSL) }
