//go:build image

package imagetest

import (
	"archive/tar"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/oauthkit/authserver/authserver/clientsecret"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
	"github.com/oauthkit/authserver/internal/testutil"
)

// maxImageBytes is the size budget of the image: issue 11's 30 MB. The
// image is 25 MB (23.9 MiB); it was 31.4 MiB while the login page rendered
// with the standard html/template, whose executor stops the linker from
// dropping unused methods (cmd/authserver's TestLinkerDropsUnusedMethods
// guards against that now).
const maxImageBytes = 30_000_000

// TestImageLayout checks what the image promises in docs/deploy.md: one
// static binary that signs with OpenSSL, CA certificates, user 65532, no
// shell, /data, labels and a HEALTHCHECK, under 30 MB.
func TestImageLayout(t *testing.T) {
	needImage(t)
	var inspect []struct {
		Size   int64
		Config struct {
			User       string
			Entrypoint []string
			Cmd        []string
			WorkingDir string
			Labels     map[string]string
			Volumes    map[string]any
		}
		Healthcheck *struct{ Test []string }
	}
	if err := json.Unmarshal([]byte(mustPodman(t, "image", "inspect", imageName)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	img := inspect[0]
	t.Logf("image size: %d bytes (%.1f MB)", img.Size, float64(img.Size)/(1<<20))
	if img.Size > maxImageBytes {
		t.Errorf("image is %d bytes, over the %d budget", img.Size, maxImageBytes)
	}
	c := img.Config
	if c.User != "65532:65532" || c.WorkingDir != "/data" || strings.Join(c.Entrypoint, " ") != "/usr/local/bin/authserver" || strings.Join(c.Cmd, " ") != "serve" {
		t.Errorf("config: user %q, workdir %q, entrypoint %q, cmd %q", c.User, c.WorkingDir, c.Entrypoint, c.Cmd)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("volumes = %v, want /data", c.Volumes)
	}
	for _, l := range []string{"version", "revision", "source"} {
		if c.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("label org.opencontainers.image.%s missing: %v", l, c.Labels)
		}
	}
	if img.Healthcheck == nil || !strings.Contains(strings.Join(img.Healthcheck.Test, " "), "/usr/local/bin/authserver healthcheck") {
		t.Errorf("healthcheck = %+v", img.Healthcheck)
	}

	out := mustPodman(t, append(append([]string{"run", "--rm"}, runFlags...), imageName, "version")...)
	if !strings.Contains(out, "openssl (OpenSSL 3") {
		t.Errorf("version in the image names no OpenSSL signer: %q", out)
	}
	if _, err := podman(t, "", append(append([]string{"run", "--rm", "--entrypoint", "/bin/sh"}, runFlags...), imageName, "-c", "true")...); err == nil {
		t.Error("the image runs /bin/sh")
	}
	checkFiles(t)
}

// checkFiles exports the image's file system: its only regular files are
// the binary, statically linked, and the CA certificates.
func checkFiles(t *testing.T) {
	t.Helper()
	name := "authserver-imagetest-export-" + randomHex(4)
	mustPodman(t, "create", "--name", name, imageName)
	defer podman(t, "", "rm", "-f", "-v", name)
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "fs.tar")
	mustPodman(t, "export", "-o", tarPath, name)
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var files []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := path.Clean("/" + h.Name)
		switch {
		case h.Typeflag == tar.TypeReg && h.Size > 0:
			files = append(files, p)
		case h.Typeflag == tar.TypeDir && p == "/data":
			if h.Uid != 65532 || h.Mode&0o777 != 0o700 {
				t.Errorf("/data: uid %d mode %o, want 65532 and 0700", h.Uid, h.Mode&0o777)
			}
		}
		if p == "/usr/local/bin/authserver" {
			bin := filepath.Join(dir, "authserver")
			out, err := os.Create(bin)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(out, tr)
			out.Close()
			checkStatic(t, bin)
		}
	}
	want := "/etc/ssl/certs/ca-certificates.crt /usr/local/bin/authserver"
	if strings.Join(files, " ") != want {
		t.Errorf("regular files in the image: %q, want %q", files, want)
	}
}

func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (program header %v)", p.Type)
		}
	}
}

// secretFile writes a secret as a Kubernetes Secret volume or a Docker
// secret delivers it, readable by the container's user.
func secretFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const testKEK = "dGVzdC1rZWstdGVzdC1rZWstdGVzdC1rZWstdGVzdC0=" // 32 bytes

// clientsFile is the only file the containers get: clients can be set
// only there. Everything else comes from the environment.
func clientsFile(t *testing.T, dir string) (path, secret string) {
	t.Helper()
	secret, hash, err := clientsecret.New()
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "clients.yaml")
	os.WriteFile(path, []byte(`clients:
  - id: svc
    secret_hash: "`+hash+`"
    grants: [client_credentials]
  - id: app
    public: true
    grants: [password, refresh_token]
    scopes: [profile]
`), 0o644)
	return path, secret
}

func mounts(cfg, kek string) []string {
	return []string{
		"-v", cfg + ":/etc/authserver/clients.yaml:ro,Z",
		"-v", kek + ":/run/secrets/kek:ro,Z",
	}
}

var fileEnv = []string{"AUTHSERVER_CONFIG=/etc/authserver/clients.yaml", "AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=/run/secrets/kek"}

func postToken(t *testing.T, base string, form url.Values, basic ...string) (int, map[string]any) {
	t.Helper()
	code, _, body := testutil.PostToken(t, base, form, basic...)
	return code, body
}

// verify checks an access token with go-jose against the JWKS at base.
func verify(t *testing.T, base, token string) map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	sig, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(sig.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %s not in the JWKS of %s", sig.Signatures[0].Header.KeyID, base)
	}
	payload, err := sig.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	return claims
}

// TestReadOnlyEmbedded runs the image --read-only as user 65532 with the
// embedded store on a volume at /data, configured by environment variables
// (the KEK from a secret file): a token from it verifies through its JWKS.
func TestReadOnlyEmbedded(t *testing.T) {
	needImage(t)
	dir := t.TempDir()
	cfg, secret := clientsFile(t, dir)
	kek := secretFile(t, dir, "kek", testKEK)
	vol := "authserver-imagetest-" + randomHex(4)
	mustPodman(t, "volume", "create", vol)
	t.Cleanup(func() { podman(t, "", "volume", "rm", "-f", vol) })
	c := start(t, fileEnv, append(mounts(cfg, kek), "-v", vol+":/data")...)

	status, err := os.ReadFile("/proc/" + c.pid(t) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "Uid:\t65532\t65532\t65532\t65532") {
		t.Errorf("the server does not run as 65532:\n%s", status)
	}
	code, body := postToken(t, c.base, url.Values{"grant_type": {"client_credentials"}}, "svc", secret)
	if code != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", code, body)
	}
	if claims := verify(t, c.base, body["access_token"].(string)); claims["sub"] != "svc" || claims["iss"] != c.base {
		t.Errorf("claims = %v", claims)
	}
	if _, err := podman(t, "", "healthcheck", "run", c.name); err != nil {
		t.Errorf("HEALTHCHECK: %v", err)
	}
	out, err := podman(t, "", "exec", c.name, "authserver", "config", "check")
	if err != nil || strings.Contains(out, testKEK) || !strings.Contains(out, "file /run/secrets/kek (AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE)") {
		t.Errorf("config check in the container: %v\n%s", err, out)
	}
}

// TestTwoContainersOnRedis runs two containers on the machine's Redis: a
// user added with the CLI in one logs in there, and the other redeems the
// refresh token.
func TestTwoContainersOnRedis(t *testing.T) {
	needImage(t)
	dir := t.TempDir()
	cfg, _ := clientsFile(t, dir)
	kek := secretFile(t, dir, "kek", testKEK)
	addr := redistest.SharedAddr(t)
	prefix := redistest.Prefix(t)
	redistest.CleanupPrefix(t, []string{addr}, prefix)
	env := append([]string{"AUTHSERVER_STORE_DRIVER=redis", "AUTHSERVER_STORE_REDIS_ADDRS=" + addr,
		"AUTHSERVER_STORE_REDIS_KEY_PREFIX=" + prefix}, fileEnv...)
	a := start(t, env, mounts(cfg, kek)...)
	b := start(t, env, mounts(cfg, kek)...)

	if _, err := podman(t, "alice-password-1\n", "exec", "-i", a.name, "authserver", "users", "add", "alice", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	code, body := postToken(t, a.base, url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"alice"}, "password": {"alice-password-1"}})
	if code != http.StatusOK {
		t.Fatalf("password grant at A: %d %v", code, body)
	}
	code, body = postToken(t, b.base, url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "refresh_token": {body["refresh_token"].(string)}})
	if code != http.StatusOK {
		t.Fatalf("refresh at B of A's token: %d %v", code, body)
	}
	// B's token verifies with A's JWKS: one key set in Redis.
	if claims := verify(t, a.base, body["access_token"].(string)); claims["client_id"] != "app" {
		t.Errorf("claims = %v", claims)
	}
}

// TestStopUnderLoad stops a container with SIGTERM (podman stop) while
// several clients send requests through a balancer that follows /readyz:
// not one request fails.
func TestStopUnderLoad(t *testing.T) {
	needImage(t)
	dir := t.TempDir()
	cfg, secret := clientsFile(t, dir)
	kek := secretFile(t, dir, "kek", testKEK)
	c := start(t, append([]string{"AUTHSERVER_HTTP_SHUTDOWN_DELAY=2s"}, fileEnv...), mounts(cfg, kek)...)
	res := loadThroughStop(t, c.base, url.Values{"grant_type": {"client_credentials"}}, "svc", secret, func() {
		mustPodman(t, "stop", "-t", "30", c.name)
	})
	t.Logf("%d requests ok (%d after SIGTERM), %d failed", res.ok, res.okAfterStop, res.failed)
	if res.failed != 0 {
		t.Errorf("%d requests failed across the stop", res.failed)
	}
	if res.okAfterStop == 0 {
		t.Error("no request was served after SIGTERM")
	}
	if code := strings.TrimSpace(mustPodman(t, "inspect", "-f", "{{.State.ExitCode}}", c.name)); code != "0" {
		logs, _ := podman(t, "", "logs", c.name)
		t.Errorf("exit code %s after SIGTERM\n%s", code, logs)
	}
}
