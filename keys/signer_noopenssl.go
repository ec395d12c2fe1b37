//go:build !(openssl && cgo)

package keys

import "crypto"

const haveOpenSSL = false

// openSSLSigner is never called in this build: checkSigner refuses
// "openssl" first.
func openSSLSigner(Key) (crypto.Signer, error) { return nil, ErrNoOpenSSL }

// OpenSSLVersion returns "": this binary has no OpenSSL signer.
func OpenSSLVersion() string { return "" }
