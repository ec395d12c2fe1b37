package keys_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/oauthkit/authserver/keys"
)

// BenchmarkSign and BenchmarkRawRSASign sign the same payload with the
// same RSA-2048 key; their ratio is the overhead of the JWS layer.
func BenchmarkSign(b *testing.B) {
	m := newManager(b, nil, nil, keys.Options{})
	payload := []byte(claims)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Sign(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawRSASign(b *testing.B) {
	m := newManager(b, nil, nil, keys.Options{})
	active, _ := m.Set().Active()
	priv := active.Signer().(*rsa.PrivateKey)
	payload := []byte(claims)
	b.ReportAllocs()
	for b.Loop() {
		digest := sha256.Sum256(payload)
		if _, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	m := newManager(b, nil, nil, keys.Options{})
	token, err := m.Sign([]byte(claims))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Verify([]byte(token)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignParallel(b *testing.B) {
	m := newManager(b, nil, nil, keys.Options{})
	payload := []byte(claims)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Sign(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
