package keys

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// golden is the RS256 signature of goldenMessage by testdata/rsa2048-test.pem,
// made with the openssl CLI (openssl dgst -sha256 -sign), so that every
// backend in every build (Go, BoringCrypto, OpenSSL through cgo) is held
// to the same bytes.
const (
	goldenMessage = "authserver: golden signature"
	golden        = "84368fa7d0fda6f885d3031693f14dea9edc1e6e3d8757892150a6e2f3b86b15" +
		"eb5806a2fd5843a96729ff9eaf24445ef74bdc345b2077f0598fba85452de197" +
		"565e1b4a879936b8e864dea3325eb2337e1e762118820f03324e64a45a598e9e" +
		"0cba81c6076c87d3ec982a52c2b4ee550bf3e344bc0e2445fce878200ca3aa03" +
		"beefd948b934dac1eb4fbf0a7da9fd26cfbb2a9ef7f2d850d3937f72a4951f26" +
		"bcef0917da6d52924ed3a6a48cf6a492ba495600d05d8b0f2d8aeba4cb61a440" +
		"a55f6c0353c9f15ce1917c4d15060017c244c8955a80cee57650d9592274a6b6" +
		"ca497b39bb9d8b0e4da708cf34a965e02116cef26f1b856185e95a8b9c91f622"
)

// onBoring reports whether crypto/rsa runs on BoringCrypto
// (GOEXPERIMENT=boringcrypto, see boring_test.go).
var onBoring bool

// availableBackends lists the signer backends of this build.
func availableBackends() []string {
	if haveOpenSSL {
		return []string{SignerGo, SignerOpenSSL}
	}
	return []string{SignerGo}
}

func testRSAKey(t *testing.T) Key {
	t.Helper()
	data, err := os.ReadFile("testdata/rsa2048-test.pem")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("testdata/rsa2048-test.pem: no PEM block")
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k, err := newKey(RS256, priv.(*rsa.PrivateKey), Active, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestBackendsSignIdentically: PKCS#1 v1.5 is deterministic, so every
// backend must make the golden signature and agree with crypto/rsa on
// other digests, and every signature verifies with rsa.VerifyPKCS1v15.
func TestBackendsSignIdentically(t *testing.T) {
	t.Logf("backends %v; crypto/rsa on BoringCrypto: %v", availableBackends(), onBoring)
	k := testRSAKey(t)
	priv := k.Signer().(*rsa.PrivateKey)
	digests := [][32]byte{sha256.Sum256([]byte(goldenMessage))}
	for range 4 {
		var d [32]byte
		rand.Read(d[:])
		digests = append(digests, d)
	}
	for _, backend := range availableBackends() {
		t.Run(backend, func(t *testing.T) {
			s, err := backendSigner(backend, k)
			if err != nil {
				t.Fatal(err)
			}
			if !priv.PublicKey.Equal(s.Public()) {
				t.Fatal("the backend's public key is not the key's")
			}
			for i, d := range digests {
				got, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := hex.DecodeString(golden)
				if i > 0 {
					if want, err = rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:]); err != nil {
						t.Fatal(err)
					}
				}
				if !bytes.Equal(got, want) {
					t.Errorf("digest %x: signature differs\n got %x\nwant %x", d, got, want)
				}
				if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, d[:], got); err != nil {
					t.Errorf("digest %x: %v", d, err)
				}
			}
		})
	}
}

// TestBackendsKeepOtherAlgorithms: only RSA goes to OpenSSL; ES256 and
// EdDSA keys sign with Go under every backend.
func TestBackendsKeepOtherAlgorithms(t *testing.T) {
	for _, alg := range []string{ES256, EdDSA} {
		k, err := GenerateKey(alg, 0, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, backend := range availableBackends() {
			s, err := backendSigner(backend, k)
			if err != nil || fmt.Sprintf("%T", s) != fmt.Sprintf("%T", k.Signer()) {
				t.Errorf("%s with %s: signer %T, %v; want the Go key", alg, backend, s, err)
			}
		}
	}
}

func TestCheckSigner(t *testing.T) {
	if err := checkSigner("boringssl"); err == nil || !strings.Contains(err.Error(), `keys.signer: unknown signer "boringssl"`) {
		t.Errorf("checkSigner(boringssl) = %v", err)
	}
	err := checkSigner(SignerOpenSSL)
	if haveOpenSSL != (err == nil) {
		t.Fatalf("checkSigner(openssl) = %v in a build with OpenSSL %v", err, haveOpenSSL)
	}
	const want = "keys.signer: openssl: this binary was built without OpenSSL support; build with -tags openssl"
	if err != nil && (!errors.Is(err, ErrNoOpenSSL) || err.Error() != want) {
		t.Errorf("checkSigner(openssl) = %q, want %q wrapping ErrNoOpenSSL", err, want)
	}
}
