package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const unitFile = "systemd/authserver.service"

// maxExposure is the highest `systemd-analyze security` score we accept
// (0 is fully sandboxed, 10 not at all).
const maxExposure = 2.0

// unitSettings returns the [Service] settings of the unit, each key with
// its values in order.
func unitSettings(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdVerify runs `systemd-analyze verify` on the unit in a root
// that holds systemd's own units and, at the ExecStart path, the authserver
// binary: an unknown setting, a bad value or a missing binary fails.
func TestSystemdVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	exec0 := strings.Fields(unitSettings(t)["ExecStart"][0])[0]
	root := t.TempDir()
	for _, dir := range []string{"usr/lib/systemd", "etc/systemd/system", filepath.Dir(strings.TrimPrefix(exec0, "/"))} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("copy systemd's units: %v\n%s", err, out)
	}
	if out, err := exec.Command("cp", authserverBinary(t), filepath.Join(root, exec0)).CombinedOutput(); err != nil {
		t.Fatalf("install the binary: %v\n%s", err, out)
	}
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/systemd/system/authserver.service"), unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--root="+root, "authserver.service").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		// verify exits 0 on an unknown key and only warns: any output fails.
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdSecurity holds the unit's exposure score at or below maxExposure.
func TestSystemdSecurity(t *testing.T) {
	analyze := systemdAnalyze(t)
	out, err := exec.Command(analyze, "security", "--offline=yes", "--no-pager", unitFile).CombinedOutput()
	// security exits non-zero only above --threshold; the score is parsed.
	m := regexp.MustCompile(`Overall exposure level for authserver\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v, no score in:\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	if score > maxExposure {
		t.Errorf("exposure %.1f, want at most %.1f:\n%s", score, maxExposure, out)
	}
	t.Logf("exposure %.1f", score)
}

// TestSystemdConfig checks the unit's environment against the
// configuration schema, the credential wiring and the stop timeout, and
// runs `authserver config check` as the unit would run serve.
func TestSystemdConfig(t *testing.T) {
	s := unitSettings(t)
	env := map[string]string{}
	for _, e := range s["Environment"] {
		k, v, _ := strings.Cut(strings.Trim(e, `"`), "=")
		env[k] = v
	}
	checkEnvNames(t, unitFile, env)

	// The KEK is a credential: LoadCredential=NAME:PATH, read from %d/NAME.
	var cred string
	if lc := s["LoadCredential"]; len(lc) == 1 {
		cred, _, _ = strings.Cut(lc[0], ":")
	}
	if cred == "" || env["AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE"] != "%d/"+cred {
		t.Errorf("AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=%q, LoadCredential=%v: want %%d/NAME of the credential",
			env["AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE"], s["LoadCredential"])
	}
	if env["AUTHSERVER_KEYS_ENCRYPTION_KEY"] != "" {
		t.Errorf("the key-encryption key is in the unit")
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=authserver", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"CapabilityBoundingSet=", "SystemCallFilter=@system-service", "PrivateTmp=yes", "ProtectHome=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"} {
		k, v, _ := strings.Cut(want, "=")
		if !slices.Contains(s[k], v) {
			t.Errorf("want %s, got %s=%v", want, k, s[k])
		}
	}
	if p := env["AUTHSERVER_STORE_EMBEDDED_PATH"]; env["AUTHSERVER_STORE_DRIVER"] != "embedded" || !strings.HasPrefix(p, "/var/lib/authserver/") {
		t.Errorf("want the embedded store under the StateDirectory /var/lib/authserver, got %q", p)
	}

	// TimeoutStopSec above the drain.
	stop := parseDuration(t, "TimeoutStopSec", s["TimeoutStopSec"])
	drain := parseDuration(t, "shutdown_delay", []string{env["AUTHSERVER_HTTP_SHUTDOWN_DELAY"]}) +
		parseDuration(t, "shutdown_timeout", []string{env["AUTHSERVER_HTTP_SHUTDOWN_TIMEOUT"]})
	if stop <= drain {
		t.Errorf("TimeoutStopSec %v is not above shutdown_delay + shutdown_timeout = %v", stop, drain)
	}

	// config check with the unit's configuration file and environment.
	args := strings.Fields(s["ExecStart"][0])
	var cfgPath string
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			cfgPath = args[i+1]
		}
	}
	if cfgPath != "/etc/authserver/config.yaml" {
		t.Fatalf("ExecStart %q: want --config /etc/authserver/config.yaml", s["ExecStart"][0])
	}
	dir := t.TempDir()
	kek, _ := secretFiles(t, dir)
	env["AUTHSERVER_CONFIG"] = filepath.Join("systemd", "config.yaml")
	env["AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE"] = kek
	env["AUTHSERVER_STORE_EMBEDDED_PATH"] = filepath.Join(dir, "authserver.db")
	abs, err := filepath.Abs(env["AUTHSERVER_CONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	env["AUTHSERVER_CONFIG"] = abs
	configCheck(t, unitFile, env)
}

// parseDuration reads a systemd time span such as "30s" (one value).
func parseDuration(t *testing.T, what string, v []string) time.Duration {
	t.Helper()
	if len(v) != 1 {
		t.Fatalf("%s: want one value, got %v", what, v)
	}
	d, err := time.ParseDuration(v[0])
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return d
}

func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is not installed (Debian package systemd; .ci/run installs it)")
	}
	return p
}
