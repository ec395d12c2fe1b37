//go:build openssl && cgo

package openssl

/*
#cgo LDFLAGS: -lcrypto
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

// OpenSSL's error queue is per thread, and a goroutine may move between
// threads from one cgo call to the next: each function below reads the
// queue, when it fails, within the same call, and leaves it empty (a
// success may queue entries too: the decoders do).

// load_rsa parses a PKCS#1 RSAPrivateKey. *used is set to the number of
// bytes consumed, so that the caller can refuse trailing data.
static EVP_PKEY *load_rsa(const unsigned char *der, long len, long *used, unsigned long *err) {
	const unsigned char *p = der;
	ERR_clear_error();
	EVP_PKEY *k = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, len);
	*err = k == NULL ? ERR_get_error() : 0;
	*used = (long)(p - der);
	ERR_clear_error();
	return k;
}

// sign_rs256 writes the PKCS#1 v1.5 signature of a SHA-256 digest to sig,
// whose capacity is *siglen, and sets *siglen to its length. It returns 1
// on success; 0 with *err set otherwise.
static int sign_rs256(EVP_PKEY *k, const unsigned char *dgst, size_t dlen,
		unsigned char *sig, size_t *siglen, unsigned long *err) {
	ERR_clear_error();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	int ok = ctx != NULL
		&& EVP_PKEY_sign_init(ctx) > 0
		&& EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0
		&& EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0
		&& EVP_PKEY_sign(ctx, sig, siglen, dgst, dlen) > 0;
	*err = ok ? 0 : ERR_get_error();
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}
*/
import "C"

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// RSAKey is an RSA private key loaded into OpenSSL. It implements
// crypto.Signer for PKCS#1 v1.5 signatures over SHA-256 digests (RS256)
// and is safe for concurrent use: OpenSSL allows concurrent signing with
// one EVP_PKEY.
//
// The OpenSSL key is freed by a cleanup once the RSAKey is unreachable, so
// a signature in progress can never use a freed key: the call holds the
// RSAKey.
type RSAKey struct {
	pkey *C.EVP_PKEY
	pub  *rsa.PublicKey
	size int // signature length: the modulus in bytes
}

// live counts the OpenSSL keys not yet freed, for tests.
var live atomic.Int64

// NewRSAKey loads der, a PKCS#1 RSAPrivateKey, into OpenSSL. pub must be
// its public key: NewRSAKey signs a test digest and checks the signature
// against pub, so a key that OpenSSL reads differently is refused here
// rather than making bad tokens. OpenSSL keeps its own copy of the key;
// the caller should zero der once NewRSAKey returns.
func NewRSAKey(der []byte, pub *rsa.PublicKey) (*RSAKey, error) {
	if len(der) == 0 || pub == nil {
		return nil, errors.New("load rsa key: no key")
	}
	var used C.long
	var code C.ulong
	pkey := C.load_rsa((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)), &used, &code)
	if pkey == nil {
		return nil, fmt.Errorf("load rsa key: %w", opensslError(code))
	}
	k := &RSAKey{pkey: pkey, pub: pub, size: int(C.EVP_PKEY_get_size(pkey))}
	live.Add(1)
	runtime.AddCleanup(k, freeKey, pkey)
	switch {
	case int(used) != len(der):
		return nil, errors.New("load rsa key: trailing data after the key")
	case C.EVP_PKEY_get_base_id(pkey) != C.EVP_PKEY_RSA:
		return nil, errors.New("load rsa key: not an RSA key")
	case k.size != pub.Size():
		return nil, fmt.Errorf("load rsa key: %d-byte key, public key has %d", k.size, pub.Size())
	}
	if err := k.selfTest(); err != nil {
		return nil, fmt.Errorf("load rsa key: %w", err)
	}
	return k, nil
}

func freeKey(pkey *C.EVP_PKEY) {
	C.EVP_PKEY_free(pkey)
	live.Add(-1)
}

// selfTest checks that k and its public key belong together.
func (k *RSAKey) selfTest() error {
	digest := sha256.Sum256([]byte("authserver: openssl key self-test"))
	sig, err := k.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		return err
	}
	if err := rsa.VerifyPKCS1v15(k.pub, crypto.SHA256, digest[:], sig); err != nil {
		return errors.New("self-test signature does not verify with the public key")
	}
	return nil
}

// Public returns the *rsa.PublicKey given to NewRSAKey.
func (k *RSAKey) Public() crypto.PublicKey { return k.pub }

// Sign returns the RSASSA-PKCS1-v1_5 signature of digest, a SHA-256 hash;
// opts must be crypto.SHA256 (PSS is refused). The signature is
// deterministic, so random is not used; OpenSSL blinds the private-key
// operation with its own random generator.
func (k *RSAKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss {
		return nil, errors.New("openssl sign: RSA-PSS is not supported")
	}
	if opts == nil || opts.HashFunc() != crypto.SHA256 {
		return nil, errors.New("openssl sign: only SHA-256 digests are supported")
	}
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("openssl sign: digest is %d bytes, want %d", len(digest), sha256.Size)
	}
	sig := make([]byte, k.size)
	siglen := C.size_t(len(sig))
	var code C.ulong
	ok := C.sign_rs256(k.pkey,
		(*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &siglen, &code)
	runtime.KeepAlive(k) // k.pkey must not be freed during the call
	if ok != 1 {
		return nil, fmt.Errorf("openssl sign: %w", opensslError(code))
	}
	if int(siglen) != k.size {
		return nil, fmt.Errorf("openssl sign: %d-byte signature, want %d", siglen, k.size)
	}
	return sig, nil
}

// opensslError describes an OpenSSL error code (0: none was queued).
func opensslError(code C.ulong) error {
	if code == 0 {
		return errors.New("openssl: failed without an error code")
	}
	var buf [256]C.char
	C.ERR_error_string_n(code, &buf[0], C.size_t(len(buf)))
	return errors.New(C.GoString(&buf[0]))
}
