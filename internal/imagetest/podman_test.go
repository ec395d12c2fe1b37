//go:build image

package imagetest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// runFlags are needed on the test machines (see docs/deploy.md): runc,
// and limits the default ones of the container engine would exceed.
var runFlags = []string{"--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"}

// image is built once per test binary, by `make image`, and removed by
// TestMain.
var (
	imageName = "localhost/authserver-imagetest:" + randomHex(4)
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if _, err := exec.LookPath("podman"); err == nil {
		exec.Command("podman", "rmi", "-f", imageName).Run()
	}
	os.Exit(code)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// needImage skips without podman and builds the image the first time.
func needImage(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed (.ci/run installs it): the image tests need it")
	}
	buildOnce.Do(func() {
		cmd := exec.Command("make", "-C", "../..", "image", "IMAGE="+imageName)
		cmd.Env = append(os.Environ(), "CONTAINER=podman")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("make image: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// podman runs podman and returns its stdout; stderr comes with the error.
func podman(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("podman", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func mustPodman(t *testing.T, args ...string) string {
	t.Helper()
	out, err := podman(t, "", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// container is a running authserver container on the host's network.
type container struct {
	name string
	base string
}

// start runs the image --read-only on the host network, listening on a
// free port of 127.0.0.1, with env and extra podman flags, and waits for
// /readyz. The container and its volumes are removed at the end.
func start(t *testing.T, env []string, extra ...string) *container {
	t.Helper()
	port := freePort(t)
	c := &container{name: "authserver-imagetest-" + randomHex(4), base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	args := append([]string{"run", "-d", "--name", c.name, "--read-only", "--network", "host",
		"--health-interval", "disable", // podman's timers need systemd; the check runs by hand
		"-e", fmt.Sprintf("AUTHSERVER_HTTP_ADDR=127.0.0.1:%d", port), "-e", "AUTHSERVER_ISSUER=" + c.base}, runFlags...)
	for _, kv := range env {
		args = append(args, "-e", kv)
	}
	args = append(append(args, extra...), imageName)
	mustPodman(t, args...)
	t.Cleanup(func() { podman(t, "", "rm", "-f", "-v", "-t", "0", c.name) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(c.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		running, _ := podman(t, "", "inspect", "-f", "{{.State.Running}}", c.name)
		if strings.TrimSpace(running) != "true" || time.Now().After(deadline) {
			logs, _ := podman(t, "", "logs", c.name)
			t.Fatalf("container %s not ready (running %s): %v\n%s", c.name, running, err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pid returns the host process id of the container's authserver.
func (c *container) pid(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(mustPodman(t, "inspect", "-f", "{{.State.Pid}}", c.name))
}
