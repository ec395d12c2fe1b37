//go:build openssl && cgo

package openssl

/*
#include <openssl/crypto.h>
*/
import "C"

// Version returns the version line of the linked libcrypto, such as
// "OpenSSL 3.5.1 1 Jul 2025": what the binary really signs with, static or
// shared.
func Version() string {
	return C.GoString(C.OpenSSL_version(C.OPENSSL_VERSION))
}
