package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/verify"
)

// deployment is what an operator runs: replicas of authserver, each its
// own process, on one store, behind a load balancer whose URL is the
// issuer. Tests of the runbooks drive it with the CLI, signals and
// rolling restarts, as docs/operations.md tells an operator to.
type deployment struct {
	t        *testing.T
	dir      string
	cfg      string   // the configuration file
	env      []string // the store (and shared settings) of every process
	lb       *balancerProxy
	replicas []*server
}

// newDeployment prepares a deployment on the embedded store or Redis with
// the configuration file cfgYAML and a user alice (password alicePassword);
// it starts no replica.
func newDeployment(t *testing.T, driver, cfgYAML string) *deployment {
	t.Helper()
	d := &deployment{t: t, dir: t.TempDir()}
	d.lb = newBalancerProxy(t)
	d.env = []string{
		"AUTHSERVER_ISSUER=" + d.lb.srv.URL,
		"AUTHSERVER_PASSWORDS_ARGON2_MEMORY=64",
		"AUTHSERVER_PASSWORDS_ARGON2_ITERATIONS=1",
		"AUTHSERVER_HTTP_SHUTDOWN_TIMEOUT=10s",
	}
	switch driver {
	case "embedded":
		d.env = append(d.env, "AUTHSERVER_STORE_EMBEDDED_PATH="+filepath.Join(d.dir, "data", "authserver.db"))
	case "redis":
		addr := redistest.SharedAddr(t)
		prefix := redistest.Prefix(t)
		redistest.CleanupPrefix(t, []string{addr}, prefix)
		d.env = append(d.env, "AUTHSERVER_STORE_DRIVER=redis", "AUTHSERVER_STORE_REDIS_ADDRS="+addr, "AUTHSERVER_STORE_REDIS_KEY_PREFIX="+prefix)
	default:
		t.Fatalf("unknown store %s", driver)
	}
	d.cfg = filepath.Join(d.dir, "authserver.yaml")
	d.writeConfig(cfgYAML)
	return d
}

const alicePassword = "correct horse battery staple"

// writeConfig replaces the configuration file, as an operator's editor
// (or a ConfigMap update) does.
func (d *deployment) writeConfig(yaml string) {
	d.t.Helper()
	if err := os.WriteFile(d.cfg, []byte(yaml), 0o600); err != nil {
		d.t.Fatal(err)
	}
}

// cli runs an authserver command against the deployment's configuration
// with extra environment (such as the keyring of the step).
func (d *deployment) cli(stdin string, extra []string, args ...string) (stdout, stderr string, code int) {
	d.t.Helper()
	env := append(append(append([]string(nil), d.env...), "AUTHSERVER_CONFIG="+d.cfg), extra...)
	return cli(d.t, d.dir, stdin, env, args...)
}

// mustCLI is cli that fails the test on a non-zero exit.
func (d *deployment) mustCLI(stdin string, extra []string, args ...string) string {
	d.t.Helper()
	out, stderr, code := d.cli(stdin, extra, args...)
	if code != 0 {
		d.t.Fatalf("authserver %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// addUser creates alice.
func (d *deployment) addUser(extra []string) {
	d.t.Helper()
	d.mustCLI(alicePassword+"\n", extra, "users", "add", "alice", "--password-stdin")
}

// start runs one more replica with extra environment and routes to it.
func (d *deployment) start(extra []string) *server {
	d.t.Helper()
	env := append(append([]string(nil), d.env...), extra...)
	env = append(env, "AUTHSERVER_HTTP_ADMIN_ADDR="+testutil.FreeAddr(d.t))
	s := startServer(d.t, d.dir, env, "--config", d.cfg)
	s.admin = "http://" + envValue(env, "AUTHSERVER_HTTP_ADMIN_ADDR")
	d.replicas = append(d.replicas, s)
	d.lb.add(s.base)
	return s
}

// roll restarts replica i with extra environment the way a rolling
// update does: out of the balancer, in-flight requests finished, SIGTERM,
// the new process started and routed to.
func (d *deployment) roll(i int, extra []string) {
	d.t.Helper()
	old := d.replicas[i]
	d.lb.remove(old.base)
	if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	if err := old.cmd.Wait(); err != nil {
		d.t.Fatalf("replica %d after SIGTERM: %v", i, err)
	}
	d.start(extra)
	d.replicas[i] = d.replicas[len(d.replicas)-1]
	d.replicas = d.replicas[:len(d.replicas)-1]
}

// hangup sends SIGHUP to every replica.
func (d *deployment) hangup() {
	d.t.Helper()
	for _, s := range d.replicas {
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			d.t.Fatal(err)
		}
	}
}

// eachReplica waits until ok holds for every replica's base URL.
func (d *deployment) eachReplica(what string, ok func(base string) bool) {
	d.t.Helper()
	for _, s := range d.replicas {
		if !testutil.WaitFor(10*time.Second, func() bool { return ok(s.base) }) {
			d.t.Fatalf("replica %s: %s did not happen within 10s", s.base, what)
		}
	}
}

func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// balancerProxy is the load balancer: it sends each request to the next
// routed replica, and knows how many requests each one is serving, so
// that a replica is stopped only once it has none.
type balancerProxy struct {
	srv      *httptest.Server
	mu       sync.Mutex
	idle     *sync.Cond
	backends []string
	inflight map[string]int
	proxies  map[string]*httputil.ReverseProxy
	next     atomic.Uint64
}

func newBalancerProxy(t *testing.T) *balancerProxy {
	b := &balancerProxy{inflight: map[string]int{}, proxies: map[string]*httputil.ReverseProxy{}}
	b.idle = sync.NewCond(&b.mu)
	b.srv = httptest.NewServer(b)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *balancerProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	if len(b.backends) == 0 {
		b.mu.Unlock()
		http.Error(w, "no replica routed", http.StatusBadGateway)
		return
	}
	base := b.backends[b.next.Add(1)%uint64(len(b.backends))]
	b.inflight[base]++
	p := b.proxies[base]
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inflight[base]--
		b.idle.Broadcast()
		b.mu.Unlock()
	}()
	p.ServeHTTP(w, r)
}

func (b *balancerProxy) add(base string) {
	target, _ := url.Parse(base)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.proxies[base] = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		// A failed request is counted by the load; the proxy's own line
		// (also for requests the load cancelled at its end) is noise.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	b.backends = append(b.backends, base)
}

// remove stops routing to base and returns once its requests are done.
func (b *balancerProxy) remove(base string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range b.backends {
		if x == base {
			b.backends = append(b.backends[:i:i], b.backends[i+1:]...)
			break
		}
	}
	for b.inflight[base] > 0 {
		b.idle.Wait()
	}
}

// Kinds of request of the load.
const (
	kindClientCredentials = iota
	kindLogin
	kindRefresh
	kindVerify
	kinds
)

var kindNames = [kinds]string{"client_credentials", "login", "refresh", "verify"}

// load is continuous traffic through the balancer: client_credentials
// with the client's current secret, logins, sessions that refresh again
// and again, and verification of every access token through the JWKS.
// Any failed request, and any session that has to log in again, is a
// failure of the test.
type load struct {
	t        *testing.T
	base     string
	client   *http.Client
	verifier *verify.Verifier
	secret   atomic.Pointer[string] // svc's secret, as deployed to the client
	ok       [kinds]atomic.Int64
	sessions []atomic.Int64 // refreshes per session
	failures atomic.Int64
	logouts  atomic.Int64
	errs     testutil.LockedBuffer
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// startLoad starts the traffic against the deployment; secret is svc's.
func startLoad(t *testing.T, d *deployment, secret string) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{t: t, base: d.lb.srv.URL, client: &http.Client{Timeout: 10 * time.Second}, cancel: cancel, sessions: make([]atomic.Int64, 3)}
	l.secret.Store(&secret)
	v, err := verify.New(ctx, l.base, verify.WithoutAudienceCheck())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	l.verifier = v
	t.Cleanup(func() { l.cancel(); l.wg.Wait() })
	l.run(ctx, 2, 20*time.Millisecond, l.clientCredentials)
	l.run(ctx, 1, 50*time.Millisecond, l.login)
	for i := range l.sessions {
		l.wg.Go(func() { l.session(ctx, i) })
	}
	l.progress(5)
	return l
}

func (l *load) run(ctx context.Context, workers int, every time.Duration, f func(context.Context)) {
	for range workers {
		l.wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					f(ctx)
				}
			}
		})
	}
}

// token posts to the token endpoint; ok is false (and a failure counted)
// unless it answered 200.
func (l *load) token(ctx context.Context, form url.Values) (map[string]any, bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := l.client.Do(req)
	if ctx.Err() != nil {
		return nil, false
	}
	if err != nil {
		l.fail("%s: %v", form.Get("grant_type"), err)
		return nil, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK {
		l.fail("%s: %d %s", form.Get("grant_type"), resp.StatusCode, body)
		return nil, false
	}
	return out, true
}

func (l *load) fail(format string, args ...any) {
	if l.failures.Add(1) <= 10 {
		fmt.Fprintf(&l.errs, format+"\n", args...)
	}
}

// check verifies an access token through the JWKS.
func (l *load) check(ctx context.Context, body map[string]any) {
	at, _ := body["access_token"].(string)
	if _, err := l.verifier.Verify(ctx, at); err != nil {
		if ctx.Err() == nil {
			l.fail("verify: %v", err)
		}
		return
	}
	l.ok[kindVerify].Add(1)
}

func (l *load) clientCredentials(ctx context.Context) {
	body, ok := l.token(ctx, url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {*l.secret.Load()}})
	if ok {
		l.ok[kindClientCredentials].Add(1)
		l.check(ctx, body)
	}
}

func (l *load) login(ctx context.Context) {
	body, ok := l.token(ctx, url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"alice"}, "password": {alicePassword}})
	if ok {
		l.ok[kindLogin].Add(1)
		l.check(ctx, body)
	}
}

// session logs in once and refreshes every 20ms; a refresh that fails is
// a forced logout (the app would have to ask for the password again).
func (l *load) session(ctx context.Context, i int) {
	var rt string
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if rt == "" {
			body, ok := l.token(ctx, url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"alice"}, "password": {alicePassword}})
			if ok {
				rt, _ = body["refresh_token"].(string)
				l.ok[kindLogin].Add(1)
			}
			continue
		}
		body, ok := l.token(ctx, url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "refresh_token": {rt}})
		if !ok {
			if ctx.Err() == nil {
				l.logouts.Add(1)
				rt = ""
			}
			continue
		}
		rt, _ = body["refresh_token"].(string)
		l.ok[kindRefresh].Add(1)
		l.sessions[i].Add(1)
		l.check(ctx, body)
	}
}

// progress waits until every kind of request, and every session, has
// succeeded n more times: the load runs through the step just taken.
func (l *load) progress(n int64) {
	l.t.Helper()
	var start [kinds]int64
	for k := range start {
		start[k] = l.ok[k].Load()
	}
	sess := make([]int64, len(l.sessions))
	for i := range sess {
		sess[i] = l.sessions[i].Load()
	}
	done := testutil.WaitFor(60*time.Second, func() bool {
		for k := range start {
			if l.ok[k].Load() < start[k]+n {
				return false
			}
		}
		for i := range sess {
			if l.sessions[i].Load() < sess[i]+n {
				return false
			}
		}
		return true
	})
	if !done {
		l.t.Fatalf("the load made no progress (%s); failures: %d, logouts %d\n%s", l.summary(), l.failures.Load(), l.logouts.Load(), l.errs.String())
	}
}

func (l *load) summary() string {
	var parts []string
	for k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", kindNames[k], l.ok[k].Load()))
	}
	return strings.Join(parts, ", ")
}

// stop ends the load and fails the test on any failed request or forced
// logout.
func (l *load) stop() {
	l.t.Helper()
	l.cancel()
	l.wg.Wait()
	l.t.Logf("load: %s; %d failed, %d forced logouts", l.summary(), l.failures.Load(), l.logouts.Load())
	if l.failures.Load() != 0 || l.logouts.Load() != 0 {
		l.t.Errorf("%d requests failed and %d sessions were logged out under load:\n%s", l.failures.Load(), l.logouts.Load(), l.errs.String())
	}
}
