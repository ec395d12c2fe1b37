// Package openssl signs with RSA private keys held by OpenSSL's libcrypto
// (the EVP API), as a crypto.Signer for RS256: PKCS#1 v1.5 padding over a
// SHA-256 digest, nothing else. It only calls into libcrypto; no
// cryptography is done here.
//
// The package is built with the build tag openssl and cgo; without them it
// is empty. It links against -lcrypto (Debian: libssl-dev for building,
// libssl3 at run time), OpenSSL 3.0 or later.
package openssl
