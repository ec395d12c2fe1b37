package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/clientsecret"
)

// confidentialClient writes a config file with one client_credentials
// client and returns its path and the client's secret.
func confidentialClient(t *testing.T, dir string) (cfg, secret string) {
	t.Helper()
	secret, hash, err := clientsecret.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "authserver.yaml")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`clients:
  - id: svc
    secret_hash: %q
    grants: [client_credentials]
`, hash)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, secret
}

// balancer plays a load balancer in front of one server: it probes
// /readyz and stops routing to the server once it answers anything but
// 200, as Kubernetes endpoints and cloud load balancers do.
type balancer struct {
	routed    atomic.Bool
	unroutedC chan struct{}
}

func (b *balancer) probe(base string, every time.Duration, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			b.routed.Store(false)
			close(b.unroutedC)
			return
		}
	}
}

// TestDrainUnderLoad sends SIGTERM to a server under continuous load from
// several clients behind a balancer: /readyz turns 503 at once, the server
// keeps serving for http.shutdown_delay, and not one request fails.
func TestDrainUnderLoad(t *testing.T) {
	const delay = 2 * time.Second
	dir := t.TempDir()
	cfg, secret := confidentialClient(t, dir)
	s := startServer(t, dir, []string{"AUTHSERVER_HTTP_SHUTDOWN_DELAY=" + delay.String()}, "--config", cfg)

	b := &balancer{unroutedC: make(chan struct{})}
	b.routed.Store(true)
	stopProbe := make(chan struct{})
	defer close(stopProbe)
	go b.probe(s.base, 200*time.Millisecond, stopProbe)

	var ok, failed, okAfterTerm atomic.Int64
	var termSent atomic.Bool
	var firstErr sync.Once
	warm := make(chan struct{})
	var warmOnce sync.Once
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {secret}}.Encode()
			for b.routed.Load() {
				resp, err := http.Post(s.base+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					firstErr.Do(func() { t.Errorf("request failed: %v %v", err, resp) })
					continue
				}
				if termSent.Load() {
					okAfterTerm.Add(1)
				}
				if ok.Add(1) >= 100 {
					warmOnce.Do(func() { close(warm) })
				}
			}
		})
	}
	select {
	case <-warm:
	case <-time.After(30 * time.Second):
		t.Fatal("no load: 100 requests did not succeed in 30s")
	}
	termAt := time.Now()
	termSent.Store(true)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.unroutedC:
	case <-time.After(delay):
		t.Fatalf("/readyz still 200 after the whole shutdown_delay")
	}
	unroutedAfter := time.Since(termAt)
	wg.Wait()
	err := s.cmd.Wait()
	exitAfter := time.Since(termAt)
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	t.Logf("%d requests ok (%d after SIGTERM), %d failed; unrouted after %s, exit after %s",
		ok.Load(), okAfterTerm.Load(), failed.Load(), unroutedAfter, exitAfter)
	if failed.Load() != 0 {
		t.Errorf("%d requests failed across the drain", failed.Load())
	}
	if okAfterTerm.Load() == 0 {
		t.Error("no request was served after SIGTERM: the server did not keep serving")
	}
	if exitAfter < delay {
		t.Errorf("exited %s after SIGTERM, before shutdown_delay %s", exitAfter, delay)
	}
	if _, err := http.Get(s.base + "/healthz"); err == nil {
		t.Error("still serving after the drain")
	}
}

// During the delay the server still answers on a fresh connection, and
// tells each client to close its connection.
func TestDrainKeepsServing(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := confidentialClient(t, dir)
	s := startServer(t, dir, []string{"AUTHSERVER_HTTP_SHUTDOWN_DELAY=1m", "AUTHSERVER_HTTP_SHUTDOWN_TIMEOUT=1s"}, "--config", cfg)
	s.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if !resp.Close {
				t.Error("/readyz while draining keeps the connection open")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never answered 503 after SIGTERM")
		}
	}
	resp, err := http.Get(s.base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("JWKS while draining: %d, Connection: close %v; want 200 and close", resp.StatusCode, resp.Close)
	}
}
