package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oauthkit/authserver/config"
	"github.com/oauthkit/authserver/internal/testutil"
)

// binary is the authserver binary built from ../cmd/authserver for the tests.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "authserver-deploy-test")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "authserver")
	// Built in the main module (..), with its own go.sum, not this one's.
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/authserver")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ../cmd/authserver: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := binary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func authserverBinary(t *testing.T) string {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// envNames are the AUTHSERVER_ variables that configure authserver, derived
// from the configuration schema, plus AUTHSERVER_CONFIG, which names the file.
func envNames() map[string]bool {
	names := map[string]bool{"AUTHSERVER_CONFIG": true}
	for _, k := range config.KeyNames() {
		names[config.EnvName(k)] = true
	}
	return names
}

// checkEnvNames fails for every AUTHSERVER_ variable of env that is no
// configuration key.
func checkEnvNames(t *testing.T, where string, env map[string]string) {
	t.Helper()
	known := envNames()
	n := 0
	for name := range env {
		if !strings.HasPrefix(name, config.EnvPrefix) {
			continue
		}
		n++
		if !known[name] {
			t.Errorf("%s: %s is not a configuration key (config.KeyNames)", where, name)
		}
	}
	if n == 0 {
		t.Errorf("%s: no AUTHSERVER_ variable at all", where)
	}
}

// secretFiles writes a fresh key-encryption key and Redis password into
// dir, each with the trailing newline that `kubectl create secret
// --from-file` and shell redirections leave.
func secretFiles(t *testing.T, dir string) (kek, password string) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kek = filepath.Join(dir, "encryption-key")
	password = filepath.Join(dir, "redis-password")
	if err := os.WriteFile(kek, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(password, []byte(rand.Text()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return kek, password
}

// configCheck runs `authserver config check` with env (and nothing else of
// the test's environment) and fails the test if it does not pass.
func configCheck(t *testing.T, where string, env map[string]string) string {
	t.Helper()
	cmd := exec.Command(authserverBinary(t), "config", "check")
	cmd.Env = environ(env)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("%s: authserver config check: %v\n%s", where, err, stderr.String())
	}
	return stdout.String()
}

// environ turns env into a process environment with PATH and HOME only
// besides it, so that no AUTHSERVER_ variable of the caller leaks in.
func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// server is an authserver process started by a test.
type server struct {
	base, admin string // http://host:port of http.addr and http.admin_addr
	env         map[string]string
}

// startServer runs `authserver serve` with env, on two free loopback ports
// (http.addr and http.admin_addr override whatever env says), and waits
// until /readyz answers 200. The process gets SIGTERM at the end of the test.
func startServer(t *testing.T, env map[string]string) *server {
	t.Helper()
	env = cloneMap(env)
	env["AUTHSERVER_HTTP_ADDR"] = testutil.FreeAddr(t)
	env["AUTHSERVER_HTTP_ADMIN_ADDR"] = testutil.FreeAddr(t)
	s := &server{base: "http://" + env["AUTHSERVER_HTTP_ADDR"], admin: "http://" + env["AUTHSERVER_HTTP_ADMIN_ADDR"], env: env}
	cmd := exec.Command(authserverBinary(t), "serve")
	cmd.Env = environ(env)
	cmd.Dir = t.TempDir()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("authserver serve output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("authserver serve exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("authserver not ready after 60s (last: %v)\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
