package testutil_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/oauthkit/authserver/internal/testutil"
)

// failRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as testing.T does; run it with run.
type failRecorder struct {
	testing.TB
	msg string
}

func (r *failRecorder) Helper() {}

func (r *failRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with r in a goroutine of its own and returns the failure
// message, empty if f returned normally.
func (r *failRecorder) run(f func(testing.TB)) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.msg
}

func TestFreeAddrCanBeListenedOn(t *testing.T) {
	addr := testutil.FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("FreeAddr = %q, want 127.0.0.1:port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr's %s: %v", addr, err)
	}
	ln.Close()
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	testutil.Eventually(t, 10*time.Second, "the third call", func() bool {
		calls++
		return calls == 3
	})
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}
}

func TestEventuallyFailsAtTheDeadline(t *testing.T) {
	r := &failRecorder{TB: t}
	start := time.Now()
	msg := r.run(func(tb testing.TB) {
		testutil.Eventually(tb, 20*time.Millisecond, "never", func() bool { return false })
	})
	if !strings.Contains(msg, "timed out after 20ms waiting for never") {
		t.Fatalf("failure = %q", msg)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Fatalf("gave up after %v, before the 20ms deadline", took)
	}
}

func TestWaitFor(t *testing.T) {
	calls := 0
	if !testutil.WaitFor(10*time.Second, func() bool { calls++; return calls == 2 }) || calls != 2 {
		t.Fatalf("WaitFor on a condition true at the second call: %d calls", calls)
	}
	if testutil.WaitFor(5*time.Millisecond, func() bool { return false }) {
		t.Fatal("WaitFor reported a condition that never held")
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := testutil.NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Advance(time.Second) })
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(10*time.Second); !got.Equal(want) {
		t.Fatalf("Now after 10 concurrent Advance(1s) = %v, want %v", got, want)
	}
	c.Set(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now after Set = %v, want %v", got, start)
	}
}

func TestLockedBufferConcurrentWrites(t *testing.T) {
	var b testutil.LockedBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 800 {
		t.Fatalf("%d lines, want 800", got)
	}
	out := b.Bytes()
	out[0] = 'X'
	if b.String()[0] != 'l' {
		t.Fatal("Bytes returned the buffer itself, not a copy")
	}
}

// issuer signs with one ES256 key and serves its JWKS.
type issuer struct {
	key *ecdsa.PrivateKey
	kid string
	srv *httptest.Server
	jwk jose.JSONWebKey
}

func newIssuer(t *testing.T) *issuer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, kid: "k1"}
	is.jwk = jose.JSONWebKey{Key: key.Public(), KeyID: is.kid, Algorithm: string(jose.ES256), Use: "sig"}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{is.jwk}})
	}))
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) sign(t *testing.T, kid string, payload string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: is.key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyWithJOSE(t *testing.T) {
	is := newIssuer(t)
	h, claims := testutil.VerifyWithJOSE(t, is.srv.URL, is.sign(t, is.kid, `{"sub":"alice"}`))
	if h.KeyID != is.kid || h.Algorithm != "ES256" || claims["sub"] != "alice" {
		t.Fatalf("header %+v, claims %v", h, claims)
	}
}

func TestVerifyJOSERefuses(t *testing.T) {
	is := newIssuer(t)
	good := is.sign(t, is.kid, `{"sub":"alice"}`)
	parts := strings.Split(good, ".")
	other := is.sign(t, is.kid, `{"sub":"mallory"}`)
	wrongAlg := is.jwk
	wrongAlg.Algorithm = string(jose.RS256)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{is.jwk}}
	tests := []struct {
		name  string
		set   jose.JSONWebKeySet
		token string
		want  string
	}{
		{"unknown-kid", set, is.sign(t, "k2", `{}`), `unknown kid "k2"`},
		{"key-for-another-alg", jose.JSONWebKeySet{Keys: []jose.JSONWebKey{wrongAlg}}, good, `key alg "RS256"`},
		{"payload-swapped", set, parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2], "error in cryptographic primitive"},
		{"alg-none", set, "eyJhbGciOiJub25lIn0.e30.", "unexpected signature algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := testutil.VerifyJOSE(tt.set, tt.token)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("VerifyJOSE error = %v, want one containing %q", err, tt.want)
			}
			if errors.Is(err, testutil.ErrUnknownKID) != (tt.name == "unknown-kid") {
				t.Fatalf("errors.Is(%v, ErrUnknownKID) = %v", err, !(tt.name == "unknown-kid"))
			}
		})
	}
	r := &failRecorder{TB: t}
	if msg := r.run(func(tb testing.TB) { testutil.VerifyWithJOSE(tb, is.srv.URL, tests[0].token) }); !strings.Contains(msg, "go-jose refuses the token") {
		t.Fatalf("VerifyWithJOSE on a refused token: failure %q", msg)
	}
}
