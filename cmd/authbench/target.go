package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/oauthkit/authserver/authserver/clientsecret"
)

// The clients and user of a server the harness starts.
const (
	benchServiceClient = "authbench-svc"
	benchLoginClient   = "authbench-app"
	benchUser          = "authbench"
)

// server is an authserver process the harness started, with everything it
// must clean up.
type server struct {
	cmd         *exec.Cmd
	exited      chan struct{} // closed when cmd has been waited for
	dir         string
	baseURL     string
	svc, login  creds
	password    string
	redisAddr   string
	redisPrefix string // "" for the embedded store
}

// startServer starts bin on a free port of 127.0.0.1 with a configuration
// of its own in a temporary directory: a confidential client for
// client_credentials whose secret the harness generated, a public client
// for password and refresh_token, and a user. It returns once /readyz
// answers 200. The caller must call stop, also after an error.
func startServer(ctx context.Context, cfg config, logw io.Writer) (*server, error) {
	dir, err := os.MkdirTemp("", "authbench-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, login: creds{id: benchLoginClient}, redisAddr: cfg.redisAddr}
	secret, hash, err := clientsecret.New()
	if err != nil {
		return s, err
	}
	s.svc = creds{id: benchServiceClient, secret: secret}
	s.password = randomString(18)
	port, err := freePort()
	if err != nil {
		return s, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.baseURL = "http://" + addr
	if cfg.store == "redis" {
		s.redisPrefix = "authbench-" + randomHex(6) + ":"
	}
	cfgPath := filepath.Join(dir, "authserver.yaml")
	if err := os.WriteFile(cfgPath, []byte(serverConfig(addr, dir, cfg, s.redisPrefix, hash)), 0o600); err != nil {
		return s, err
	}
	env := serverEnv(os.Environ(), base64.StdEncoding.EncodeToString(randomBytes(32)))

	add := exec.CommandContext(ctx, cfg.start, "users", "add", benchUser, "--password-stdin", "--config", cfgPath)
	add.Env = env
	add.Stdin = strings.NewReader(s.password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		return s, fmt.Errorf("create the bench user: %w: %s", err, bytes.TrimSpace(out))
	}

	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return s, err
	}
	defer logFile.Close()
	s.cmd = exec.Command(cfg.start, "serve", "--config", cfgPath)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = childAttr()
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return s, fmt.Errorf("start %s: %w", cfg.start, err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	fmt.Fprintf(logw, "authbench: started %s (pid %d) on %s, %s store, log %s\n", cfg.start, s.cmd.Process.Pid, addr, cfg.store, logPath)
	if err := s.waitReady(ctx, cfg.wait); err != nil {
		return s, fmt.Errorf("%w; server log:\n%s", err, tail(logPath, 2000))
	}
	return s, nil
}

// serverConfig is the YAML configuration of a started server.
func serverConfig(addr, dir string, cfg config, redisPrefix, secretHash string) string {
	var st string
	if cfg.store == "redis" {
		st = fmt.Sprintf("  driver: redis\n  redis: {addrs: [%q], key_prefix: %q}\n", cfg.redisAddr, redisPrefix)
	} else {
		st = fmt.Sprintf("  driver: embedded\n  embedded: {path: %q}\n", filepath.Join(dir, "authserver.db"))
	}
	admin := ""
	if cfg.adminAddr != "" {
		admin = fmt.Sprintf(", admin_addr: %q", cfg.adminAddr)
	}
	return fmt.Sprintf(`# Written by authbench for one run.
issuer: http://%[1]s
http: {addr: %[1]q%[8]s}
store:
%[2]skeys: {algorithm: %[6]s, signer: %[7]s}
clients:
  - id: %[3]s
    secret_hash: %[4]q
    grants: [client_credentials]
    scopes: [bench]
  - id: %[5]s
    public: true
    grants: [password, refresh_token]
    scopes: [profile]
`, addr, st, benchServiceClient, secretHash, benchLoginClient, cfg.alg, cfg.signer, admin)
}

// serverEnv is the harness's environment without any AUTHSERVER_ variable
// (the configuration file says everything), plus the key-encryption key.
func serverEnv(environ []string, kek string) []string {
	var env []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "AUTHSERVER_") {
			env = append(env, kv)
		}
	}
	return append(env, "AUTHSERVER_KEYS_ENCRYPTION_KEY="+kek)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return b
}

func randomString(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }
func randomHex(n int) string    { return hex.EncodeToString(randomBytes(n)) }

// freePort asks the kernel for a free port of 127.0.0.1. Another process
// could take it before the server binds it; the server would then fail to
// start, loudly.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls /readyz until it answers 200, the server exits, or the
// time is up.
func (s *server) waitReady(ctx context.Context, wait time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(wait)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return errors.New("the server exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server was not ready after %s", wait)
		}
	}
}

// pid returns the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server (SIGTERM, then SIGKILL after 10 s), deletes its
// Redis keys and its temporary directory.
func (s *server) stop(logw io.Writer) error {
	if s == nil {
		return nil
	}
	var errs []error
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if s.redisPrefix != "" {
		n, err := deleteRedisKeys(s.redisAddr, s.redisPrefix)
		if err != nil {
			errs = append(errs, err)
		}
		fmt.Fprintf(logw, "authbench: deleted %d Redis keys %s*\n", n, s.redisPrefix)
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// discover reads the server's metadata (RFC 8414, or OpenID discovery)
// for its token and JWKS endpoints, retrying while the server starts.
func discover(ctx context.Context, hc *http.Client, base string, wait time.Duration) (endpoints, error) {
	base = strings.TrimSuffix(base, "/")
	deadline := time.Now().Add(wait)
	var last error
	for {
		for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
			ep, err := fetchMetadata(ctx, hc, base+path)
			if err == nil {
				return ep, nil
			}
			last = err
		}
		if time.Now().After(deadline) {
			return endpoints{}, fmt.Errorf("discover endpoints of %s: %w", base, last)
		}
		select {
		case <-ctx.Done():
			return endpoints{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func fetchMetadata(ctx context.Context, hc *http.Client, u string) (endpoints, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return endpoints{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return endpoints{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return endpoints{}, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	var md struct {
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil {
		return endpoints{}, fmt.Errorf("GET %s: %w", u, err)
	}
	for _, e := range []string{md.TokenEndpoint, md.JWKSURI} {
		if err := checkLoopbackURL(e); err != nil {
			return endpoints{}, fmt.Errorf("GET %s: endpoint %w", u, err)
		}
	}
	return endpoints{token: md.TokenEndpoint, jwks: md.JWKSURI}, nil
}
