//go:build unix

package authserver_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redisstoretest"
	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

// The BenchmarkHandler* benchmarks drive the real handler with pre-built
// requests (no sockets) and alternate each token request with one raw
// RS256 signature by the same key and signer backend, so that both see
// the same machine load. They report:
//
//   - efficiency: raw signature's CPU ÷ CPU per token (the process's CPU,
//     GC included); 1 would mean the token costs nothing but its signature;
//   - wall-efficiency: the same with elapsed times;
//   - token-µs and sign-µs: CPU per token and per raw signature;
//   - allocs/token: heap allocations of one handler call.
//
// Each runs sequentially (conns=1: one request at a time, the CPU's idle
// moments while the store answers count against the token) and with 32
// requests in flight (conns=32, the issue 16 condition: while one request
// waits for the store, others sign). With conns=32 the process alternates
// rounds of 32 concurrent requests with rounds of raw signatures on every
// CPU, and compares their CPU per item.
//
// Run them with and without the OpenSSL signer:
//
//	go test -run '^$' -bench Handler ./authserver/
//	CGO_ENABLED=1 go test -tags openssl -run '^$' -bench Handler ./authserver/

func BenchmarkHandlerClientCredentials(b *testing.B) {
	forEachSigner(b, func(b *testing.B, backend string) {
		e := newEnv(b, withSigner(b, backend))
		forEachConns(b, func(b *testing.B, conns int) {
			benchHandler(b, e, backend, conns, func(int) nextRequest { return clientCredentials })
		})
	})
}

func BenchmarkHandlerRefreshEmbedded(b *testing.B) {
	forEachSigner(b, func(b *testing.B, backend string) {
		benchRefresh(b, newEnv(b, withSigner(b, backend)), backend)
	})
}

func BenchmarkHandlerRefreshRedis(b *testing.B) {
	forEachSigner(b, func(b *testing.B, backend string) {
		st := redisstoretest.Open(b)
		signer := withSigner(b, backend)
		benchRefresh(b, newEnv(b, func(o *authserver.Options) { signer(o); o.Store = st }), backend)
	})
}

// benchRefresh refreshes one chain per connection, always with the
// chain's newest token.
func benchRefresh(b *testing.B, e *env, backend string) {
	var chains []string
	forEachConns(b, func(b *testing.B, conns int) {
		for len(chains) < conns {
			chains = append(chains, e.login(b).str("refresh_token"))
		}
		benchHandler(b, e, backend, conns, func(i int) nextRequest { return refreshChain(&chains[i]) })
	})
}

// clientCredentials builds a client_credentials request of client svc.
func clientCredentials(*httptest.ResponseRecorder) *http.Request {
	req := tokenRequest("grant_type=client_credentials")
	req.SetBasicAuth("svc", svcSecret)
	return req
}

// refreshChain builds the requests of one refresh chain whose first
// token is *rt, each with the previous response's token.
func refreshChain(rt *string) nextRequest {
	return func(prev *httptest.ResponseRecorder) *http.Request {
		if prev != nil {
			*rt = fieldOf(prev.Body.String(), "refresh_token")
		}
		return tokenRequest("grant_type=refresh_token&client_id=app&refresh_token=" + *rt)
	}
}

// forEachConns runs bench sequentially and with 32 requests in flight.
func forEachConns(b *testing.B, bench func(*testing.B, int)) {
	for _, conns := range []int{1, 32} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) { bench(b, conns) })
	}
}

// forEachSigner runs bench for every signer backend of this build.
func forEachSigner(b *testing.B, bench func(*testing.B, string)) {
	backends := []string{keys.SignerGo}
	if keys.OpenSSLVersion() != "" {
		backends = append(backends, keys.SignerOpenSSL)
	}
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) { bench(b, backend) })
	}
}

// withSigner gives the server a key manager over the shared test key that
// signs with backend.
func withSigner(b *testing.B, backend string) func(*authserver.Options) {
	return func(o *authserver.Options) {
		o.Signer = keystest.NewManager(b, &keystest.Store{}, sharedKEK, keys.Options{Now: o.Now, AccessTTL: o.AccessTTL, Logger: quietLog, Signer: backend})
	}
}

func tokenRequest(body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// nextRequest builds a connection's next request given its previous
// response (nil at first).
type nextRequest func(prev *httptest.ResponseRecorder) *http.Request

// benchHandler alternates raw signatures with token requests served by
// e's handler, conns at a time; connection i's requests come from
// newConn(i). Building a request is not measured.
func benchHandler(b *testing.B, e *env, backend string, conns int, newConn func(i int) nextRequest) {
	h := e.srv.Handler()
	active, _ := e.keys.Set().Active()
	raw, err := keystest.BackendSigner(backend, active.Signer().(*rsa.PrivateKey))
	if err != nil {
		b.Fatal(err)
	}
	input := bytes.Repeat([]byte("x"), 600) // about a token's signing input
	sign := func() {
		sum := sha256.Sum256(input) // RS256 hashes, as the token's signature does
		if _, err := raw.Sign(nil, sum[:], crypto.SHA256); err != nil {
			b.Error(err)
		}
	}
	serve := serveOK(b, h)
	next := make([]nextRequest, conns)
	last := make([]*httptest.ResponseRecorder, conns)
	for i := range next {
		next[i] = newConn(i)
	}
	// Each round: conns raw signatures spread over every CPU, then one
	// request on each connection, all in flight together. A goroutine per
	// signing CPU and per connection lives through every round, as a
	// server's connection goroutines do.
	procs := min(runtime.GOMAXPROCS(0), conns)
	reqs := make([]*http.Request, conns)
	var round sync.WaitGroup
	signers, conn := workers(procs, &round, func(p int) {
		n := conns / procs
		if p < conns%procs {
			n++
		}
		for range n {
			sign()
		}
	}), workers(conns, &round, func(i int) { last[i] = serve(reqs[i]) })
	defer signers.stop()
	defer conn.stop()
	var signCPU, tokenCPU, signWall, tokenWall time.Duration
	for b.Loop() {
		for i := range reqs {
			reqs[i] = next[i](last[i])
		}
		c0, t0 := cpuTime(), time.Now()
		signers.run(&round)
		c1, t1 := cpuTime(), time.Now()
		conn.run(&round)
		c2, t2 := cpuTime(), time.Now()
		if b.Failed() {
			b.FailNow()
		}
		signCPU, tokenCPU = signCPU+c1-c0, tokenCPU+c2-c1
		signWall, tokenWall = signWall+t1.Sub(t0), tokenWall+t2.Sub(t1)
	}
	tokens := float64(b.N * conns)
	b.ReportMetric(float64(signCPU)/float64(tokenCPU), "efficiency")
	b.ReportMetric(float64(signWall)/float64(tokenWall), "wall-efficiency")
	b.ReportMetric(float64(tokenCPU)/tokens/1e3, "token-µs")
	b.ReportMetric(float64(signCPU)/tokens/1e3, "sign-µs")
	// Outside the loop, one request at a time: ReadMemStats stops the
	// world.
	allocs, last0 := allocsPerRequest(20, next[0], serve, last[0])
	b.ReportMetric(allocs, "allocs/token")
	// Leave every chain at its newest token for the next run (b.N's
	// ramp-up, -count): a refresh token presented again after the reuse
	// grace revokes its family.
	last[0] = last0
	for i := range next {
		next[i](last[i])
	}
}

// serveOK returns a function that serves a request with h and reports an
// error to tb unless the answer is 200 OK (Errorf, not Fatalf: it may run
// on goroutines of its own).
func serveOK(tb testing.TB, h http.Handler) func(*http.Request) *httptest.ResponseRecorder {
	return func(req *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			tb.Errorf("status %d: %s", w.Code, w.Body)
		}
		return w
	}
}

// allocsPerRequest is the mean number of heap allocations of serve (a
// response recorder and one handler call) over n requests from next,
// each built outside the count; it returns the last response too.
func allocsPerRequest(n int, next nextRequest, serve func(*http.Request) *httptest.ResponseRecorder, last *httptest.ResponseRecorder) (float64, *httptest.ResponseRecorder) {
	var ms runtime.MemStats
	var allocs uint64
	for range n {
		req := next(last)
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		last = serve(req)
		runtime.ReadMemStats(&ms)
		allocs += ms.Mallocs - before
	}
	return float64(allocs) / float64(n), last
}

// pool is a set of goroutines that each run their work once per round.
type pool []chan bool

// workers starts n goroutines; goroutine i runs work(i) for every round.
func workers(n int, round *sync.WaitGroup, work func(i int)) pool {
	p := make(pool, n)
	for i := range p {
		p[i] = make(chan bool)
		go func() {
			for range p[i] {
				work(i)
				round.Done()
			}
		}()
	}
	return p
}

// run runs one round and waits for it.
func (p pool) run(round *sync.WaitGroup) {
	round.Add(len(p))
	for _, c := range p {
		c <- true
	}
	round.Wait()
}

func (p pool) stop() {
	for _, c := range p {
		close(c)
	}
}

// fieldOf returns the string member name of a flat JSON object.
func fieldOf(body, name string) string {
	i := strings.Index(body, `"`+name+`":"`) + len(name) + 4
	return body[i : i+strings.IndexByte(body[i:], '"')]
}

// cpuTime is the CPU time of the whole process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHandlerJWKS fetches the JWKS over loopback HTTP (keep-alive)
// from the server's handler and, alternating, the same bytes with the
// same headers from a bare net/http handler. efficiency is the bare
// handler's CPU per request ÷ ours; both include the client's CPU, which
// runs in this process too.
func BenchmarkHandlerJWKS(b *testing.B) {
	e := newEnv(b, nil)
	const path = "/.well-known/jwks.json"
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	if w.Code != http.StatusOK {
		b.Fatalf("status %d", w.Code)
	}
	body, header := w.Body.Bytes(), w.Header().Clone()
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		maps.Copy(w.Header(), header)
		w.Write(body)
	}))
	b.Cleanup(bare.Close)
	client := e.http.Client()
	get := func(base string) {
		resp, err := client.Get(base + path)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n != int64(len(body)) {
			b.Fatalf("%s: status %d, %d bytes", base, resp.StatusCode, n)
		}
	}
	var bareCPU, oursCPU time.Duration
	for b.Loop() {
		c0 := cpuTime()
		get(bare.URL)
		c1 := cpuTime()
		get(e.http.URL)
		c2 := cpuTime()
		bareCPU, oursCPU = bareCPU+c1-c0, oursCPU+c2-c1
	}
	b.ReportMetric(float64(bareCPU)/float64(oursCPU), "efficiency")
	b.ReportMetric(float64(oursCPU)/float64(b.N)/1e3, "ours-µs")
	b.ReportMetric(float64(bareCPU)/float64(b.N)/1e3, "bare-µs")
}
