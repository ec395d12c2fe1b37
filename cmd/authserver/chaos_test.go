package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/verify"
)

// Environment of TestChaos (make chaos sets the first two).
const (
	envChaosDuration    = "CHAOS_DURATION"     // default 30s, the short run of make test
	envChaosClients     = "CHAOS_CLIENTS"      // default 10
	envChaosMinReplicas = "CHAOS_MIN_REPLICAS" // default 2: every replica (docs/redis.md)
	envChaosFaults      = "CHAOS_FAULTS"       // default every kind; e.g. "pause-master,kill-master"
)

const (
	chaosMaster   = "chaos-master"
	chaosReplicas = 2 // Redis replicas beside the master
)

// chaosFleet is the run's three authserver replicas.
type chaosFleet struct {
	t        *testing.T
	dir, cfg string
	env      []string

	mu      sync.Mutex
	servers []*server
}

func (f *chaosFleet) start() *server { return startServer(f.t, f.dir, f.env, "--config", f.cfg) }

// pick returns the base URL of a random replica.
func (f *chaosFleet) pick() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.servers[rand.IntN(len(f.servers))].base
}

func (f *chaosFleet) replace(i int, s *server) {
	f.mu.Lock()
	f.servers[i] = s
	f.mu.Unlock()
}

// kill9 kills a random replica with SIGKILL and starts another.
func (f *chaosFleet) kill9() {
	i := rand.IntN(len(f.servers))
	f.mu.Lock()
	s := f.servers[i]
	f.mu.Unlock()
	s.kill()
	f.replace(i, f.start())
}

// rollingRestart stops each replica with SIGTERM (it drains), waits for
// it to exit and starts its successor before the next.
func (f *chaosFleet) rollingRestart() {
	for i := range f.servers {
		f.mu.Lock()
		s := f.servers[i]
		f.mu.Unlock()
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
		f.replace(i, f.start())
	}
}

// chaosRedis is the run's Redis: a master, two replicas and three
// Sentinels, each data node with AOF.
type chaosRedis struct {
	t         *testing.T
	nodes     []*redistest.Server
	sentinels []*redistest.Server
}

func (r *chaosRedis) master() *redistest.Server {
	addr := redistest.SentinelMaster(r.t, r.sentinels[0].Addr, chaosMaster)
	for _, n := range r.nodes {
		if n.Addr == addr {
			return n
		}
	}
	r.t.Fatalf("sentinel names master %q, not one of the nodes", addr)
	return nil
}

// awaitNewMaster waits until every Sentinel names a master other than
// old; false if they have not within 30s.
func (r *chaosRedis) awaitNewMaster(old string) bool {
	return testutil.WaitFor(30*time.Second, func() bool {
		for _, s := range r.sentinels {
			if m := redistest.SentinelMaster(r.t, s.Addr, chaosMaster); m == "" || m == old {
				return false
			}
		}
		return true
	})
}

func (r *chaosRedis) failover() {
	old := r.master().Addr
	c := redis.NewSentinelClient(&redis.Options{Addr: r.sentinels[rand.IntN(len(r.sentinels))].Addr})
	defer c.Close()
	if err := c.Failover(context.Background(), chaosMaster).Err(); err != nil {
		r.t.Logf("SENTINEL FAILOVER: %v", err) // e.g. one already in progress
		return
	}
	r.awaitNewMaster(old)
}

func (r *chaosRedis) killMaster() {
	m := r.master()
	m.Kill()
	if !r.awaitNewMaster(m.Addr) {
		r.t.Errorf("no failover within 30s of killing master %s", m.Addr)
	}
	// With its AOF, as a replica of the new master, as Sentinel's rewrite
	// of its configuration file would have it (docs/redis.md).
	m.StartReplicaOf(r.master().Addr)
}

func (r *chaosRedis) pauseMaster() {
	m := r.master()
	m.Pause()
	time.Sleep(time.Duration(2+rand.IntN(3)) * time.Second) // the fault: a master hung this long
	m.Resume()
}

func (r *chaosRedis) connectedClients() int {
	n, _ := strconv.Atoi(redistest.InfoField(r.t, r.master().Addr, "clients", "connected_clients"))
	return n
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number", name, v)
	}
	return n
}

// TestChaos is the chaos run (make chaos; a short one in make test):
// Redis with Sentinel, three authserver replicas and N clients refreshing
// in a loop, while faults are injected at random; it prints a table and
// fails when an invariant breaks (docs/operations.md).
func TestChaos(t *testing.T) {
	duration := 30 * time.Second
	if v := os.Getenv(envChaosDuration); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", envChaosDuration, v, err)
		}
		duration = d
	}
	clients := envInt(t, envChaosClients, 10)
	minReplicas := envInt(t, envChaosMinReplicas, chaosReplicas)

	dataArgs := []string{"--appendonly", "yes"}
	if minReplicas > 0 {
		dataArgs = append(dataArgs, "--min-replicas-to-write", strconv.Itoa(minReplicas), "--min-replicas-max-lag", "10")
	}
	rd := &chaosRedis{t: t}
	master := redistest.StartServer(t, dataArgs...)
	rd.nodes = []*redistest.Server{master, redistest.StartReplica(t, master, dataArgs...), redistest.StartReplica(t, master, dataArgs...)}
	rd.sentinels = redistest.StartSentinels(t, master, chaosMaster, 3, time.Second)
	sentinelAddrs := make([]string, len(rd.sentinels))
	for i, s := range rd.sentinels {
		sentinelAddrs[i] = s.Addr
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "authserver.yaml")
	os.WriteFile(cfg, []byte(`clients:
  - id: app
    public: true
    grants: [password, refresh_token]
tokens: {refresh_reuse_grace: 5m}
`), 0o600)
	// The grace outlasts the longest stretch of 503s that faults every
	// few seconds cause: a client that retries a token whose answer it
	// lost past the grace is logged out by design, which is not what this
	// run measures.
	const issuer = "http://127.0.0.1/chaos"
	env := []string{
		"AUTHSERVER_ISSUER=" + issuer,
		"AUTHSERVER_STORE_DRIVER=redis",
		"AUTHSERVER_STORE_REDIS_ADDRS=" + strings.Join(sentinelAddrs, ","),
		"AUTHSERVER_STORE_REDIS_MASTER_NAME=" + chaosMaster,
		"AUTHSERVER_STORE_REDIS_MIN_REPLICAS=" + strconv.Itoa(minReplicas),
		"AUTHSERVER_STORE_REDIS_REPLICA_TIMEOUT=500ms",
		"AUTHSERVER_KEYS_ENCRYPTION_KEY=" + strings.Repeat("QUJD", 10) + "QUI=",
		// A new key signs once every replica has had the time to publish
		// it: a replica cut off from Redis longer than this serves a JWKS
		// without it, which verifiers may cache (docs/operations.md).
		"AUTHSERVER_KEYS_PUBLISH_AHEAD=60s",
		"AUTHSERVER_HTTP_SHUTDOWN_TIMEOUT=5s",
		// Every client logs in as one user, at times many at once.
		"AUTHSERVER_PASSWORDS_LOCKOUT_MAX_FAILURES=1000000",
		"AUTHSERVER_PASSWORDS_LOCKOUT_MAX_FAILURES_PER_IP=1000000",
	}
	if _, stderr, code := cli(t, dir, "chaos-password\n", env, "--config", cfg, "users", "add", "chaos", "--password-stdin"); code != 0 {
		t.Fatalf("users add: %s", stderr)
	}
	fleet := &chaosFleet{t: t, dir: dir, cfg: cfg, env: env}
	for range 3 {
		fleet.servers = append(fleet.servers, fleet.start())
	}

	// The clients' JWKS: any live replica's.
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 10 {
			resp, err := http.Get(fleet.pick() + "/.well-known/jwks.json")
			if err == nil && resp.StatusCode == 200 {
				w.Header().Set("Content-Type", "application/json")
				io.Copy(w, resp.Body)
				resp.Body.Close()
				return
			}
			if err == nil {
				resp.Body.Close()
			}
		}
		http.Error(w, "no replica answered", http.StatusBadGateway)
	}))
	defer jwks.Close()
	verifier, err := verify.New(context.Background(), issuer, verify.WithJWKSURL(jwks.URL), verify.WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	defer verifier.Close()

	startGoroutines := runtime.NumGoroutine()
	stats := &chaosStats{otherCodes: map[int]int{}}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	cs := make([]*chaosClient, clients)
	login := url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"chaos"}, "password": {"chaos-password"}}
	for i := range cs {
		cs[i] = &chaosClient{pick: fleet.pick, login: login, verifier: verifier, stats: stats,
			hc: &http.Client{Timeout: 10 * time.Second}}
		wg.Go(func() { cs[i].run(ctx) })
	}
	defer func() { stop(); wg.Wait() }()
	everyClientServed := func(since time.Time) bool {
		for _, c := range cs {
			if c.lastOK.Load() < since.UnixNano() {
				return false
			}
		}
		return true
	}
	if !testutil.WaitFor(30*time.Second, func() bool { return everyClientServed(time.Unix(0, 1)) }) {
		t.Fatal("not every client refreshed within 30s of the start")
	}
	startConns := rd.connectedClients()

	faults := runFaults(t, fleet, rd, duration, os.Getenv(envChaosFaults))
	quiet := time.Now()
	recovered := testutil.WaitFor(60*time.Second, func() bool { return everyClientServed(quiet) })
	stop()
	wg.Wait()
	for _, c := range cs {
		c.hc.CloseIdleConnections()
	}
	testutil.WaitFor(10*time.Second, func() bool { return runtime.NumGoroutine() <= startGoroutines+5 })
	report := chaosReport{stats: stats, faults: faults, duration: duration, clients: clients, minReplicas: minReplicas,
		goroutines: [2]int{startGoroutines, runtime.NumGoroutine()}, conns: [2]int{startConns, rd.connectedClients()},
		recovered: recovered}
	fmt.Print(report.table())
	for _, e := range report.broken() {
		t.Error(e)
	}
}
