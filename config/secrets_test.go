package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// secretPath writes content to a file of its own and returns its path.
func secretPath(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSecretFiles(t *testing.T) {
	kek := secretPath(t, testKey+"\n")
	tests := []struct {
		name      string
		yaml      string
		environ   []string
		wantKEK   string
		wantRedis string
	}{
		{"env-file-trailing-newline", "", []string{"AUTHSERVER_STORE_DRIVER=redis", "AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=" + kek}, testKey, ""},
		{"config-file-key", "keys:\n  encryption_key_file: " + kek + "\n", nil, testKey, ""},
		{"crlf-dropped", "", []string{"AUTHSERVER_STORE_REDIS_PASSWORD_FILE=" + secretPath(t, "pw with spaces \r\n")}, "", "pw with spaces "},
		{"no-newline", "", []string{"AUTHSERVER_STORE_REDIS_PASSWORD_FILE=" + secretPath(t, "pw")}, "", "pw"},
		{"only-one-newline-dropped", "", []string{"AUTHSERVER_STORE_REDIS_PASSWORD_FILE=" + secretPath(t, "pw\n\n")}, "", "pw\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			if tt.yaml != "" {
				file = writeFile(t, tt.yaml)
			}
			cfg, err := Load(file, tt.environ)
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if cfg.Keys.EncryptionKey != tt.wantKEK || cfg.Store.Redis.Password != tt.wantRedis {
				t.Errorf("secrets = %q, %q; want %q, %q", cfg.Keys.EncryptionKey, cfg.Store.Redis.Password, tt.wantKEK, tt.wantRedis)
			}
		})
	}
}

func TestSecretFileErrors(t *testing.T) {
	const secret = "file-content-must-not-leak"
	pw := secretPath(t, secret)
	tests := []struct {
		name     string
		yaml     string
		environ  []string
		wantText []string
	}{
		{"both-in-env", "", []string{"AUTHSERVER_STORE_REDIS_PASSWORD=x", "AUTHSERVER_STORE_REDIS_PASSWORD_FILE=" + pw},
			[]string{"store.redis.password", "store.redis.password_file", "AUTHSERVER_STORE_REDIS_PASSWORD_FILE"}},
		{"value-in-file-path-in-env", "keys:\n  encryption_key: " + testKey + "\n", []string{"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=" + pw},
			[]string{"keys.encryption_key", "keys.encryption_key_file"}},
		{"missing-file", "", []string{"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=/nonexistent/kek"},
			[]string{"keys.encryption_key_file", "/nonexistent/kek"}},
		{"empty-file", "", []string{"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=" + secretPath(t, "\n")},
			[]string{"keys.encryption_key_file", "is empty"}},
		{"bad-key-in-file", "", []string{"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=" + pw},
			[]string{"keys.encryption_key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			if tt.yaml != "" {
				file = writeFile(t, tt.yaml)
			}
			_, err := Load(file, tt.environ)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			problemKeys(t, err)
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestSecretSources(t *testing.T) {
	kek := secretPath(t, testKey)
	environ := []string{"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=" + kek, "AUTHSERVER_STORE_REDIS_PASSWORD=hunter2-hunter2"}
	cfg, err := Load("", environ)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.SecretSources(environ)
	want := []SecretSource{
		{"keys.encryption_key", "file " + kek + " (AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE)"},
		{"store.redis.password", "environment AUTHSERVER_STORE_REDIS_PASSWORD"},
		{"keys.previous_encryption_keys", "not set"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("SecretSources = %q, want %q", got, want)
	}
	cfg, err = Load(writeFile(t, "store:\n  redis:\n    password: pw\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got = cfg.SecretSources(nil)
	want = []SecretSource{{"keys.encryption_key", "not set"}, {"store.redis.password", "config file"}, {"keys.previous_encryption_keys", "not set"}}
	if !slices.Equal(got, want) {
		t.Errorf("SecretSources = %q, want %q", got, want)
	}
}

// A secret read from a file is printed neither as itself nor as REDACTED:
// the redacted output names the file and loads again as it is.
func TestRedactedSecretFromFileReloads(t *testing.T) {
	environ := []string{"AUTHSERVER_STORE_DRIVER=redis", "AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE=" + secretPath(t, testKey+"\n")}
	cfg, err := Load("", environ)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := cfg.Redacted().WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), testKey) || strings.Contains(b.String(), redacted) {
		t.Fatalf("redacted output shows the key or a placeholder:\n%s", b.String())
	}
	again, err := Load(writeFile(t, b.String()), nil)
	if err != nil {
		t.Fatalf("redacted output does not load: %v\n%s", err, b.String())
	}
	if again.Keys.EncryptionKey != testKey {
		t.Error("reloaded configuration did not read the key from its file")
	}
}

func TestKeyNames(t *testing.T) {
	names := KeyNames()
	for _, k := range []string{"issuer", "http.shutdown_delay", "http.shutdown_timeout", "keys.encryption_key_file", "store.redis.password_file"} {
		if !slices.Contains(names, k) {
			t.Errorf("KeyNames() lacks %s", k)
		}
	}
	for _, k := range names {
		if strings.HasPrefix(k, "clients") {
			t.Errorf("KeyNames() lists %s, which only the file can set", k)
		}
		if _, err := Load("", []string{EnvName(k) + "="}); err != nil && strings.Contains(err.Error(), "no configuration key has this name") {
			t.Errorf("%s (%s) is not read from the environment: %v", k, EnvName(k), err)
		}
	}
	if got := EnvName("keys.encryption_key_file"); got != "AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE" {
		t.Errorf("EnvName = %q", got)
	}
}

func TestShutdownDelay(t *testing.T) {
	cfg, err := Load("", []string{"AUTHSERVER_HTTP_SHUTDOWN_DELAY=5s"})
	if err != nil || cfg.HTTP.ShutdownDelay.String() != "5s" {
		t.Fatalf("Load = %v, %v", cfg.HTTP.ShutdownDelay, err)
	}
	_, err = Load("", []string{"AUTHSERVER_HTTP_SHUTDOWN_DELAY=-1s"})
	if keys := problemKeys(t, err); !slices.Equal(keys, []string{"http.shutdown_delay"}) {
		t.Errorf("negative delay: problems %q", keys)
	}
}
