package config

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRedacted(t *testing.T) {
	secrets := []string{"redis-password-hunter2", testKey, "sha256:zc3ajd9rEgb-y0Jpw54NrcXNj-V7WeuNcBEK0b6cLXs"} // the last: the hash of a-client-secret-of-thirty-two-chars
	c, err := Load(prodFile(t), []string{"AUTHSERVER_STORE_REDIS_PASSWORD=" + secrets[0]})
	if err != nil {
		t.Fatal(err)
	}
	c.Clients = append(c.Clients, Client{ID: "third", SecretHash: secrets[2], Grants: []string{GrantClientCredentials}})
	orig := c.clone()
	r := c.Redacted()

	tests := []struct {
		name      string
		got, want string
	}{
		{"store.redis.password", r.Store.Redis.Password, "REDACTED"},
		{"keys.encryption_key", r.Keys.EncryptionKey, "REDACTED"},
		{"clients[0].secret_hash unset stays empty", r.Clients[0].SecretHash, ""},
		{"clients[1].secret_hash", r.Clients[1].SecretHash, "REDACTED"},
		{"clients[2].secret_hash", r.Clients[2].SecretHash, "REDACTED"},
		{"redis username is not a secret", r.Store.Redis.Username, c.Store.Redis.Username},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if !reflect.DeepEqual(c, orig) {
		t.Error("Redacted modified its receiver")
	}
	var buf bytes.Buffer
	if err := r.WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range append(secrets, c.Clients[1].SecretHash) {
		if strings.Contains(buf.String(), s) {
			t.Errorf("redacted YAML contains a secret:\n%s", buf.String())
		}
	}
	if got := Default().Redacted(); !reflect.DeepEqual(got, Default()) {
		t.Errorf("Redacted changed a config without secrets: %+v", got)
	}
}

func TestWriteYAMLRoundTrip(t *testing.T) {
	prod, err := Load(prodFile(t), []string{"AUTHSERVER_STORE_REDIS_PASSWORD=pw: with # odd chars", "AUTHSERVER_HTTP_IDLE_TIMEOUT=1h30m"})
	if err != nil {
		t.Fatal(err)
	}
	odd := Default()
	odd.Issuer = "https://auth.example.com/tenant-1"
	odd.Store.Redis.Username = "true"
	odd.Store.Redis.MasterName = "0123"
	odd.Store.Redis.DB = 3
	odd.Tokens.RefreshReuseGrace = 0
	odd.Tokens.AccessTTL = 1500 * time.Millisecond
	odd.Clients = []Client{{ID: "null", Public: true, Grants: []string{GrantPassword}, Scopes: []string{"a:b", "[x]"}}}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"defaults", Default()},
		{"production", prod},
		{"odd-values", odd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.cfg.WriteYAML(&buf); err != nil {
				t.Fatal(err)
			}
			got, err := Load(writeFile(t, buf.String()), nil)
			if err != nil {
				t.Fatalf("Load of WriteYAML output = %v\n%s", err, buf.String())
			}
			if !reflect.DeepEqual(normalize(got), normalize(tt.cfg)) {
				t.Errorf("round trip changed the config:\n got %+v\nwant %+v\n%s", got, tt.cfg, buf.String())
			}
		})
	}
}

// The output of `config check` loads back; only its placeholders are refused.
func TestWriteYAMLRedactedLoads(t *testing.T) {
	c, err := Load(prodFile(t), []string{"AUTHSERVER_STORE_REDIS_PASSWORD=pw"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.Redacted().WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, buf.String())
	_, err = Load(file, nil)
	want := []string{"keys.encryption_key", "clients[1] (billing-worker).secret_hash"}
	if keys := problemKeys(t, err); !slices.Equal(keys, want) {
		t.Errorf("problem keys = %q, want %q\n%v", keys, want, err)
	}
	if !strings.Contains(err.Error(), "placeholder") {
		t.Errorf("error %q does not explain the placeholder", err)
	}

	c.Clients = c.Clients[:1]
	buf.Reset()
	if err := c.Redacted().WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := Load(writeFile(t, buf.String()), []string{"AUTHSERVER_KEYS_ENCRYPTION_KEY=" + testKey, "AUTHSERVER_STORE_REDIS_PASSWORD=pw"})
	if err != nil {
		t.Fatalf("Load of redacted output with secrets from the environment = %v", err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(c)) {
		t.Errorf("got %+v, want %+v", got, c)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"zero", 0, "0s"},
		{"seconds", 10 * time.Second, "10s"},
		{"minutes", 15 * time.Minute, "15m"},
		{"hours", 168 * time.Hour, "168h"},
		{"hours-minutes", 90 * time.Minute, "1h30m"},
		{"hours-seconds", time.Hour + time.Second, "1h0m1s"},
		{"fraction", 1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := formatDuration(tt.d)
			if got != tt.want {
				t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
			}
			if back, err := time.ParseDuration(got); err != nil || back != tt.d {
				t.Errorf("ParseDuration(%q) = %v, %v", got, back, err)
			}
		})
	}
}
