package authserver_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The benchmarks below drive the handler in-process (no sockets), so that
// the ratio against BenchmarkRawRSASign is the server's own overhead per
// token. Compare them within one run:
//
//	go test -run '^$' -bench 'IssueAccessToken|Refresh|RawRSASign' ./authserver/

// BenchmarkRawRSASign is the baseline: one RSA-2048 PKCS#1 v1.5 signature
// over the SHA-256 of a token-sized input, with crypto/rsa.
func BenchmarkRawRSASign(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	input := []byte(strings.Repeat("x", 400))
	for b.Loop() {
		sum := sha256.Sum256(input)
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func serve(b *testing.B, h http.Handler, body, basic string) {
	req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id, secret, ok := strings.Cut(basic, ":"); ok {
		req.SetBasicAuth(id, secret)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

// BenchmarkIssueAccessToken is a complete client_credentials request:
// decoding, client authentication, claims, signing, response.
func BenchmarkIssueAccessToken(b *testing.B) {
	e := newEnv(b, nil)
	h := e.srv.Handler()
	for b.Loop() {
		serve(b, h, "grant_type=client_credentials", "svc:"+svcSecret)
	}
}

// BenchmarkRefresh is a chain of refresh grants on the embedded store:
// one atomic redemption and one signature per token.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b, nil)
	h := e.srv.Handler()
	rt := e.login(b).str("refresh_token")
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=refresh_token&client_id=app&refresh_token="+rt))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		body := w.Body.String()
		i := strings.Index(body, `"refresh_token":"`) + len(`"refresh_token":"`)
		rt = body[i : i+strings.IndexByte(body[i:], '"')]
	}
}

// BenchmarkIssueOverhead interleaves a complete client_credentials request
// with a bare RSA signature by the same key, so both see the same machine
// load, and reports their ratio: raw-sign-time/issue-time is the token
// rate as a fraction of the raw signing rate (the target is ≥ 0.9).
func BenchmarkIssueOverhead(b *testing.B) {
	e := newEnv(b, nil)
	h := e.srv.Handler()
	active, _ := e.keys.Set().Active()
	key := active.Signer().(*rsa.PrivateKey)
	input := []byte(strings.Repeat("x", 400))
	var raw, issue time.Duration
	for b.Loop() {
		t0 := time.Now()
		sum := sha256.Sum256(input)
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		serve(b, h, "grant_type=client_credentials", "svc:"+svcSecret)
		issue += time.Since(t1)
		raw += t1.Sub(t0)
	}
	b.ReportMetric(float64(raw)/float64(issue), "rate-vs-raw-sign")
	b.ReportMetric(float64(issue)/float64(b.N)/1e3, "µs/token")
}
