package deploy

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeFile is the part of `docker-compose config` output the test reads.
type composeFile struct {
	Services map[string]composeService `json:"services"`
	Secrets  map[string]struct {
		File string `json:"file"`
	} `json:"secrets"`
	Volumes map[string]any `json:"volumes"`
}

type composeService struct {
	Image       string            `json:"image"`
	Command     any               `json:"command"`
	Environment map[string]string `json:"environment"`
	User        string            `json:"user"`
	ReadOnly    bool              `json:"read_only"`
	Healthcheck *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Secrets []struct {
		Source string `json:"source"`
	} `json:"secrets"`
	Volumes []any    `json:"volumes"`
	Ports   []string `json:"ports"`
}

// TestCompose validates deploy/compose/compose.yaml with a real Compose
// implementation (docker-compose config, which checks it against the
// Compose schema) and then checks what the resolved file says.
func TestCompose(t *testing.T) {
	tool, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose is not installed (Debian package docker-compose; .ci/run installs it)")
	}
	cmd := exec.Command(tool, "--project-directory", "compose", "-f", filepath.Join("compose", "compose.yaml"), "config")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, stderr.String())
	}
	var f composeFile
	if err := yaml.Unmarshal(stdout.Bytes(), &f); err != nil {
		t.Fatalf("parse docker-compose config output: %v\n%s", err, stdout.String())
	}

	entrypoint := imageEntrypoint(t)
	var replicas []string
	hostPorts := map[string]string{}
	for name, s := range f.Services {
		if s.Image != "authserver:latest" {
			continue
		}
		replicas = append(replicas, name)
		checkEnvNames(t, name, s.Environment)
		if s.User != "65532:65532" && s.User != "65532" {
			t.Errorf("%s: user %q, want the image's 65532", name, s.User)
		}
		if !s.ReadOnly {
			t.Errorf("%s: want read_only", name)
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 3 ||
			!slices.Equal(s.Healthcheck.Test[:3], []string{"CMD", entrypoint, "healthcheck"}) {
			t.Errorf("%s: healthcheck %+v, want [CMD %s healthcheck]", name, s.Healthcheck, entrypoint)
		}
		if len(s.DependsOn) == 0 {
			t.Errorf("%s: no depends_on", name)
		}
		for dep, c := range s.DependsOn {
			if c.Condition != "service_healthy" {
				t.Errorf("%s: depends_on %s with condition %q, want service_healthy", name, dep, c.Condition)
			}
			if f.Services[dep].Healthcheck == nil {
				t.Errorf("%s: depends on %s being healthy, which has no healthcheck", name, dep)
			}
		}
		for _, p := range s.Ports {
			host := p[:strings.LastIndex(p, ":")] // "127.0.0.1:8080" of "127.0.0.1:8080:8080/tcp"
			if other, dup := hostPorts[host]; dup {
				t.Errorf("%s and %s both publish %s", name, other, host)
			}
			hostPorts[host] = name
		}
		// Secrets come as files of Compose secrets that the service mounts.
		var mounted []string
		for _, sec := range s.Secrets {
			mounted = append(mounted, sec.Source)
		}
		for _, v := range []string{"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE", "AUTHSERVER_STORE_REDIS_PASSWORD_FILE"} {
			secret, ok := strings.CutPrefix(s.Environment[v], "/run/secrets/")
			if !ok || !slices.Contains(mounted, secret) || f.Secrets[secret].File == "" {
				t.Errorf("%s: %s=%q is not the file of a secret it mounts (%v)", name, v, s.Environment[v], mounted)
			}
		}
		if s.Environment["AUTHSERVER_KEYS_ENCRYPTION_KEY"] != "" || s.Environment["AUTHSERVER_STORE_REDIS_PASSWORD"] != "" {
			t.Errorf("%s: a secret in the environment", name)
		}
		checkComposeConfig(t, name, s)
	}
	if len(replicas) < 2 {
		t.Errorf("want two authserver replicas, got %v", replicas)
	}

	redis, ok := f.Services["redis"]
	if !ok {
		t.Fatal("no redis service")
	}
	command := strings.Join(flatten(redis.Command), " ")
	for _, want := range []string{"--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction", "--requirepass"} {
		if !strings.Contains(command, want) {
			t.Errorf("redis command %q lacks %q", command, want)
		}
	}
	dataVolume := false
	for _, v := range redis.Volumes {
		if s, ok := v.(string); ok {
			src, dst, _ := strings.Cut(s, ":")
			_, named := f.Volumes[src]
			dataVolume = dataVolume || (named && strings.HasPrefix(dst, "/data"))
		}
	}
	if !dataVolume {
		t.Errorf("redis: want a named volume at /data, got %v", redis.Volumes)
	}
}

// imageEntrypoint returns the binary of the image's ENTRYPOINT in
// deploy/Containerfile, where the healthcheck must find it.
func imageEntrypoint(t *testing.T) string {
	t.Helper()
	const documented = "/usr/local/bin/authserver" // docs/deploy.md, Container image
	data, err := os.ReadFile("Containerfile")
	if errors.Is(err, fs.ErrNotExist) {
		t.Logf("no deploy/Containerfile: the binary is taken at %s", documented)
		return documented
	}
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ENTRYPOINT\s+\["([^"]+)"`).FindSubmatch(data)
	if m == nil {
		t.Fatal("deploy/Containerfile: no ENTRYPOINT in exec form")
	}
	return string(m[1])
}

// checkComposeConfig runs `authserver config check` on the mounted
// config.yaml with the service's environment, its secret files stood in
// by temp files.
func checkComposeConfig(t *testing.T, name string, s composeService) {
	t.Helper()
	env := cloneMap(s.Environment)
	var configFile string
	for _, v := range s.Volumes {
		if str, ok := v.(string); ok {
			parts := strings.Split(str, ":")
			if len(parts) >= 2 && parts[1] == env["AUTHSERVER_CONFIG"] {
				configFile = parts[0]
			}
		}
	}
	if configFile == "" {
		t.Errorf("%s: AUTHSERVER_CONFIG=%s is not a mounted file", name, env["AUTHSERVER_CONFIG"])
		return
	}
	env["AUTHSERVER_CONFIG"] = configFile
	kek, password := secretFiles(t, t.TempDir())
	env["AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE"] = kek
	env["AUTHSERVER_STORE_REDIS_PASSWORD_FILE"] = password
	out := configCheck(t, name, env)
	if !strings.Contains(out, "driver: redis") {
		t.Errorf("%s: config check does not show the Redis store:\n%s", name, out)
	}
}

func flatten(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return nil
}
