package verify_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// benchToken returns a verifier and a token signed with a key of alg, with
// the claims authserver issues.
func benchToken(b *testing.B, alg jwa.SignatureAlgorithm) (func() error, *signingKey, string) {
	k := newKey(b, "bench-"+alg.String(), alg)
	is := newIssuer(b, k)
	clk := newClock()
	v := newVerifier(b, is, clk)
	tok := token(b, k, is.claims(clk.Now()), nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	return func() error { _, err := v.Verify(ctx, tok); return err }, k, tok
}

// BenchmarkVerify measures Verify of an RS256 access token; compare with
// BenchmarkRawRSAVerify, the signature check alone.
func BenchmarkVerify(b *testing.B) {
	verify, _, _ := benchToken(b, jwa.RS256)
	b.ReportAllocs()
	for b.Loop() {
		if err := verify(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawRSAVerify is the floor under BenchmarkVerify: SHA-256 of the
// same signing input and rsa.VerifyPKCS1v15 with the same key.
func BenchmarkRawRSAVerify(b *testing.B) {
	_, k, tok := benchToken(b, jwa.RS256)
	pub, in, sig := rawParts(b, k, tok)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(in)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	verify, _, _ := benchToken(b, jwa.RS256)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := verify(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRawRSAVerifyParallel(b *testing.B) {
	_, k, tok := benchToken(b, jwa.RS256)
	pub, in, sig := rawParts(b, k, tok)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h := sha256.Sum256(in)
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyAlgorithms measures Verify with the other default
// algorithms.
func BenchmarkVerifyAlgorithms(b *testing.B) {
	for _, alg := range []jwa.SignatureAlgorithm{jwa.ES256, jwa.EdDSA} {
		b.Run(alg.String(), func(b *testing.B) {
			verify, _, _ := benchToken(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				if err := verify(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRatio alternates one Verify and one raw check per
// iteration and reports the rate of Verify relative to the raw check as
// "x-raw": on a shared, noisy machine both see the same load, which
// separate benchmarks do not.
func BenchmarkVerifyRatio(b *testing.B) {
	verify, k, tok := benchToken(b, jwa.RS256)
	pub, in, sig := rawParts(b, k, tok)
	var inVerify, inRaw time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if err := verify(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		h := sha256.Sum256(in)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
		inVerify += t1.Sub(t0)
		inRaw += time.Since(t1)
	}
	b.ReportMetric(float64(inRaw)/float64(inVerify), "x-raw")
}

func rawParts(b *testing.B, k *signingKey, tok string) (*rsa.PublicKey, []byte, []byte) {
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	return k.pub.(*rsa.PublicKey), []byte(tok[:i]), sig
}
