// Package redistest runs real Redis servers for tests: the shared one the
// environment provides, and private redis-server processes (a single
// server, a three-master Cluster, a Sentinel) that a test starts in its
// own temporary directory and that are killed when it ends.
//
// When Redis is missing (no server at the shared address, no redis-server
// binary), tests are skipped with a one-line reason, unless the
// environment variable AUTHSERVER_REQUIRE_REDIS is "1" (CI sets it): then
// they fail, so that a broken CI image cannot pass by skipping.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/oauthkit/authserver/internal/testutil"
)

// Environment variables that tests read.
const (
	// EnvAddr names the address of the shared test Redis; default
	// DefaultAddr.
	EnvAddr = "AUTHSERVER_TEST_REDIS_ADDR"
	// EnvRequire, when "1", turns every skip for a missing Redis into a
	// failure.
	EnvRequire = "AUTHSERVER_REQUIRE_REDIS"
	// DefaultAddr is the shared test Redis when EnvAddr is unset.
	DefaultAddr = "127.0.0.1:6379"
)

// startTimeout bounds how long a server or cluster may take to come up.
const startTimeout = 20 * time.Second

// Skip skips t with the reason, or fails it when EnvRequire is "1".
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf(format+" (%s=1: Redis is required)", append(args, EnvRequire)...)
	}
	t.Skipf(format, args...)
}

// SharedAddr returns the address of the shared test Redis (EnvAddr, or
// DefaultAddr) after checking that it answers a PING; otherwise it skips
// or fails t (see Skip).
func SharedAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(EnvAddr)
	if addr == "" {
		addr = DefaultAddr
	}
	if err := ping(context.Background(), addr, 2*time.Second); err != nil {
		Skip(t, "redis not reachable at %s: %v", addr, err)
	}
	return addr
}

// Prefix returns a fresh random key prefix, so that tests sharing one
// Redis never see each other's keys.
func Prefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random prefix: %v", err)
	}
	return "authserver-test-" + hex.EncodeToString(b) + ":"
}

// CleanupPrefix deletes, when t ends, every key that starts with prefix
// on the Redis at addrs (one address, or the nodes of a Cluster).
func CleanupPrefix(t testing.TB, addrs []string, prefix string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := DeletePrefix(ctx, addrs, prefix); err != nil {
			t.Errorf("delete test keys %s*: %v", prefix, err)
		}
	})
}

// DeletePrefix deletes every key that starts with prefix on the Redis at
// addrs, scanning every master of a Cluster.
func DeletePrefix(ctx context.Context, addrs []string, prefix string) error {
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, MaintNotificationsConfig: noMaint()})
	defer c.Close()
	del := func(ctx context.Context, node redis.Cmdable) error {
		iter := node.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := node.Unlink(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return del(ctx, node) })
	}
	return del(ctx, c)
}

// escapeGlob escapes the glob metacharacters of SCAN's MATCH pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Server is a redis-server process that a test started. It is killed when
// the test ends.
type Server struct {
	// Addr is host:port of the server; it stays the same across Start.
	Addr string
	// Dir is the server's working directory (its AOF, RDB and log).
	Dir string

	t    testing.TB
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartServer starts redis-server on a free port of 127.0.0.1, in a fresh
// temporary directory, without persistence unless args say otherwise
// (args are redis-server options such as "--appendonly", "yes", which
// override the defaults), and waits until it answers. It skips or fails t
// (see Skip) when redis-server is not installed.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := binary(t)
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))), Dir: t.TempDir(), t: t}
	_, port, _ := net.SplitHostPort(s.Addr)
	s.args = append([]string{
		"--port", port, "--bind", "127.0.0.1", "--dir", s.Dir, "--logfile", "redis.log",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
	}, args...)
	s.args = append([]string{bin}, s.args...)
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("redis-server %s log:\n%s", s.Addr, s.logTail())
		}
	})
	s.Start()
	return s
}

// Start starts the server again, on the same port and directory, after
// Stop or Kill, and waits until it answers (has loaded its data).
func (s *Server) Start() {
	s.t.Helper()
	if s.running() {
		s.t.Fatalf("start redis-server %s: already running", s.Addr)
	}
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Dir = s.Dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	done := s.done
	go func() {
		cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		err := ping(context.Background(), s.Addr, 500*time.Millisecond)
		if answered(err) {
			return
		}
		select {
		case <-done:
			s.t.Fatalf("redis-server %s exited at start: %v\n%s", s.Addr, cmd.ProcessState, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server %s not answering after %v: %v\n%s", s.Addr, startTimeout, err, s.logTail())
		}
		time.Sleep(10 * time.Millisecond) // polling for the server to answer
	}
}

// Stop asks the server to shut down (SIGTERM: with AOF on, it writes and
// fsyncs its pending writes first) and waits until it has exited.
func (s *Server) Stop() { s.signal(syscall.SIGTERM, 10*time.Second) }

// Kill kills the server (SIGKILL: a crash; only what it had written to its
// files survives) and waits until it has exited. It does nothing if the
// server is not running.
func (s *Server) Kill() { s.signal(syscall.SIGKILL, 10*time.Second) }

// Pause stops the server process (SIGSTOP): connections stay open and
// new ones are accepted by the kernel, but nothing is answered, as with a
// hung or partitioned server.
func (s *Server) Pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("pause redis-server: %v", err)
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("resume redis-server: %v", err)
	}
}

func (s *Server) running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// signal sends sig and waits for the exit; after wait it kills.
func (s *Server) signal(sig syscall.Signal, wait time.Duration) {
	s.t.Helper()
	if !s.running() {
		return
	}
	s.cmd.Process.Signal(sig)
	s.cmd.Process.Signal(syscall.SIGCONT) // a paused process handles nothing else
	select {
	case <-s.done:
		return
	case <-time.After(wait):
	}
	s.cmd.Process.Kill()
	<-s.done
	s.t.Errorf("redis-server %s ignored %v for %v; killed", s.Addr, sig, wait)
}

// logTail returns the end of the server's log, for failure reports.
func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// StartCluster starts a Redis Cluster of three masters without replicas,
// each a redis-server in its own temporary directory, waits until every
// node reports cluster_state:ok, and returns the node addresses. It skips
// or fails t (see Skip) when redis-server or redis-cli is missing.
func StartCluster(t testing.TB) []string {
	t.Helper()
	cli := lookPath(t, "redis-cli")
	var addrs []string
	for range 3 {
		// The bus port defaults to port+10000, which may be taken or
		// beyond 65535: pick a free one.
		s := StartServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(freePort(t)), "--cluster-node-timeout", "5000")
		addrs = append(addrs, s.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range addrs {
		awaitClusterOK(ctx, t, addr)
	}
	return addrs
}

// awaitClusterOK polls CLUSTER INFO on addr until it reports
// cluster_state:ok.
func awaitClusterOK(ctx context.Context, t testing.TB, addr string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaintNotificationsConfig: noMaint()})
	defer c.Close()
	var last string
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return
		}
		last = fmt.Sprint(info, err)
		select {
		case <-ctx.Done():
			t.Fatalf("cluster node %s not ok: %s", addr, last)
		case <-time.After(20 * time.Millisecond): // polling for the cluster to form
		}
	}
}

// StartSentinel starts a Sentinel that monitors master under the name
// masterName (quorum 1) and returns its address once it knows the master.
func StartSentinel(t testing.TB, master *Server, masterName string) string {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	host, masterPort, _ := net.SplitHostPort(master.Addr)
	port := freePort(t)
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile sentinel.log\nsentinel monitor %s %s %s 1\n",
		port, dir, masterName, host, masterPort)
	path := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatalf("write sentinel config: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{Addr: addr, Dir: dir, t: t, args: []string{bin, path, "--sentinel"}}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			t.Logf("sentinel %s log:\n%s", addr, b)
		}
	})
	s.Start()
	c := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		got, err := c.GetMasterAddrByName(ctx, masterName).Result()
		if err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == master.Addr {
			return addr
		}
		select {
		case <-ctx.Done():
			t.Fatalf("sentinel %s does not know master %s: %v %v", addr, masterName, got, err)
		case <-time.After(20 * time.Millisecond): // polling for the sentinel
		}
	}
}

// binary returns the path of redis-server, or skips or fails t.
func binary(t testing.TB) string {
	t.Helper()
	return lookPath(t, "redis-server")
}

func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, "%s not installed: %v", name, err)
	}
	return p
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testutil.FreeAddr(t))
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("free port %q: %v", port, err)
	}
	return n
}

// ping reports whether the Redis at addr answers a PING within timeout.
func ping(ctx context.Context, addr string, timeout time.Duration) error {
	// Dial first, so that a server not yet listening does not make
	// go-redis log a failed dial.
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		MaxRetries: -1, DialerRetries: 1, MaintNotificationsConfig: noMaint(),
		DisableIdentity: true,
	})
	defer c.Close()
	return c.Ping(ctx).Err()
}

// answered reports whether a PING that returned err reached a server that
// is up: it answered, if only to refuse an unauthenticated client, and is
// not loading its data.
func answered(err error) bool {
	var rerr redis.Error
	if err == nil || errors.As(err, &rerr) && !redis.IsLoadingError(err) {
		return true
	}
	return false
}

// InfoField returns one field of the INFO section of the Redis at addr,
// such as InfoField(t, addr, "memory", "used_memory").
func InfoField(t testing.TB, addr, section, field string) string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaintNotificationsConfig: noMaint()})
	defer c.Close()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatalf("INFO %s on %s: %v", section, addr, err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("INFO %s on %s has no field %s", section, addr, field)
	return ""
}

// noMaint turns off go-redis' maintenance notifications, a Redis
// Enterprise feature that plain servers refuse.
func noMaint() *maintnotifications.Config {
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}
