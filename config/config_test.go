package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testKey is a valid keys.encryption_key.
var testKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authserver.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problemKeys returns the keys of the problems in err, which must be an *Error.
func problemKeys(t *testing.T, err error) []string {
	t.Helper()
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error %v is %T, want *Error", err, err)
	}
	var keys []string
	for _, p := range cerr.Problems {
		keys = append(keys, p.Key)
	}
	return keys
}

// normalize makes empty slices nil, since YAML cannot tell them apart.
func normalize(c Config) Config {
	c = c.clone()
	for _, s := range []*[]string{&c.Store.Redis.Addrs, &c.Tokens.Audience, &c.Keys.PreviousEncryptionKeys} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	if len(c.Clients) == 0 {
		c.Clients = nil
	}
	for i := range c.Clients {
		for _, s := range []*[]string{&c.Clients[i].SecretHashes, &c.Clients[i].Grants, &c.Clients[i].Scopes, &c.Clients[i].Audience, &c.Clients[i].RedirectURIs, &c.Clients[i].AllowedOrigins} {
			if len(*s) == 0 {
				*s = nil
			}
		}
	}
	return c
}

func TestDefault(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	loaded, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load(\"\", nil) = %v", err)
	}
	if !reflect.DeepEqual(loaded, d) {
		t.Errorf("Load without file or environment:\n got %+v\nwant %+v", loaded, d)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"issuer", d.Issuer, "http://127.0.0.1:8080"},
		{"http.addr", d.HTTP.Addr, "127.0.0.1:8080"},
		{"http.admin_addr", d.HTTP.AdminAddr, ""},
		{"http.read_header_timeout", d.HTTP.ReadHeaderTimeout, 5 * time.Second},
		{"http.idle_timeout", d.HTTP.IdleTimeout, time.Minute},
		{"store.driver", d.Store.Driver, "embedded"},
		{"store.embedded.path", d.Store.Embedded.Path, "./data/authserver.db"},
		{"store.redis.addrs", d.Store.Redis.Addrs, []string{"127.0.0.1:6379"}},
		{"store.redis.key_prefix", d.Store.Redis.KeyPrefix, "authserver:"},
		{"store.redis.dial_timeout", d.Store.Redis.DialTimeout, 2 * time.Second},
		{"tokens.access_ttl", d.Tokens.AccessTTL, 15 * time.Minute},
		{"tokens.refresh_idle_ttl", d.Tokens.RefreshIdleTTL, 168 * time.Hour},
		{"tokens.refresh_max_ttl", d.Tokens.RefreshMaxTTL, 672 * time.Hour},
		{"tokens.refresh_reuse_grace", d.Tokens.RefreshReuseGrace, 10 * time.Second},
		{"tokens.audience", d.Tokens.Audience, []string{"api"}},
		{"keys.algorithm", d.Keys.Algorithm, "RS256"},
		{"keys.rsa_bits", d.Keys.RSABits, 2048},
		{"keys.rotate_every", d.Keys.RotateEvery, 720 * time.Hour},
		{"keys.publish_ahead", d.Keys.PublishAhead, 10 * time.Minute},
		{"keys.signer", d.Keys.Signer, "go"},
		{"passwords.lockout", d.Passwords.Lockout, Lockout{MaxFailures: 5, Window: 15 * time.Minute, MaxFailuresPerIP: 100}},
		{"passwords.argon2", d.Passwords.Argon2, Argon2{Memory: 19456, Iterations: 2, Parallelism: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

const fileYAML = `
issuer: https://auth.example.com
http:
  addr: 0.0.0.0:8443
  admin_addr: 127.0.0.1:9090
store:
  driver: redis
  redis:
    addrs: [10.0.0.5:6379, 10.0.0.6:6379]
    key_prefix: "prod:"
    tls: true
    pool_size: 50
tokens:
  access_ttl: 5m
  audience: [orders-api, billing-api]
keys:
  encryption_key: ` + "%KEY%" + `
  rotate_every: 0
passwords:
  lockout: {max_failures: 3, window: 1h, max_failures_per_ip: 20}
  argon2: {memory: 65536, iterations: 3, parallelism: 4}
clients:
  - id: mobile-app
    public: true
    grants: [password, refresh_token]
    scopes: [profile, "orders:read"]
    audience: [orders-api]
  - id: billing-worker
    secret_hash: ` + "%HASH%" + `
    grants: [client_credentials]
    scopes: [billing]
    introspect: true
`

func prodFile(t *testing.T) string {
	t.Helper()
	r := strings.NewReplacer("%KEY%", testKey, "%HASH%", testSecretHash)
	return writeFile(t, r.Replace(fileYAML))
}

func TestLoadFile(t *testing.T) {
	cfg, err := Load(prodFile(t), nil)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"issuer", cfg.Issuer, "https://auth.example.com"},
		{"http.addr", cfg.HTTP.Addr, "0.0.0.0:8443"},
		{"http.admin_addr", cfg.HTTP.AdminAddr, "127.0.0.1:9090"},
		{"http.read_timeout kept", cfg.HTTP.ReadTimeout, 10 * time.Second},
		{"store.driver", cfg.Store.Driver, "redis"},
		{"store.redis.addrs", cfg.Store.Redis.Addrs, []string{"10.0.0.5:6379", "10.0.0.6:6379"}},
		{"store.redis.key_prefix", cfg.Store.Redis.KeyPrefix, "prod:"},
		{"store.redis.tls", cfg.Store.Redis.TLS, true},
		{"store.redis.pool_size", cfg.Store.Redis.PoolSize, 50},
		{"store.redis.dial_timeout kept", cfg.Store.Redis.DialTimeout, 2 * time.Second},
		{"tokens.access_ttl", cfg.Tokens.AccessTTL, 5 * time.Minute},
		{"tokens.refresh_idle_ttl kept", cfg.Tokens.RefreshIdleTTL, 168 * time.Hour},
		{"tokens.audience", cfg.Tokens.Audience, []string{"orders-api", "billing-api"}},
		{"keys.encryption_key", cfg.Keys.EncryptionKey, testKey},
		{"keys.rotate_every", cfg.Keys.RotateEvery, time.Duration(0)},
		{"passwords.lockout", cfg.Passwords.Lockout, Lockout{MaxFailures: 3, Window: time.Hour, MaxFailuresPerIP: 20}},
		{"passwords.argon2", cfg.Passwords.Argon2, Argon2{Memory: 65536, Iterations: 3, Parallelism: 4}},
		{"clients", len(cfg.Clients), 2},
		{"clients[0]", cfg.Clients[0], Client{ID: "mobile-app", Public: true, Grants: []string{"password", "refresh_token"},
			Scopes: []string{"profile", "orders:read"}, Audience: []string{"orders-api"}}},
		{"clients[1].secret_hash", cfg.Clients[1].SecretHash, testSecretHash},
		{"clients[0].introspect defaults to false", cfg.Clients[0].Introspect, false},
		{"clients[1].introspect", cfg.Clients[1].Introspect, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestLoadFileNullsAndEmpty(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{"empty-file", ""},
		{"comments-only", "# nothing here\n"},
		{"null-document", "~\n"},
		{"null-sections", "http:\ntokens:\nclients:\n"},
		{"null-leaf", "http:\n  addr: ~\n"},
		{"empty-clients", "clients: []\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, tt.yaml), nil)
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if !reflect.DeepEqual(cfg, Default()) {
				t.Errorf("got %+v, want the defaults", cfg)
			}
		})
	}
}

func TestLoadEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		check   func(Config) bool
	}{
		{"nested-string", []string{"AUTHSERVER_STORE_DRIVER=redis", "AUTHSERVER_KEYS_ENCRYPTION_KEY=" + testKey},
			func(c Config) bool { return c.Store.Driver == "redis" && c.Keys.EncryptionKey == testKey }},
		{"comma-list", []string{"AUTHSERVER_STORE_REDIS_ADDRS=10.0.0.5:6379, 10.0.0.6:6379"},
			func(c Config) bool {
				return slices.Equal(c.Store.Redis.Addrs, []string{"10.0.0.5:6379", "10.0.0.6:6379"})
			}},
		{"one-element-list", []string{"AUTHSERVER_TOKENS_AUDIENCE=orders-api"},
			func(c Config) bool { return slices.Equal(c.Tokens.Audience, []string{"orders-api"}) }},
		{"duration-with-underscore-key", []string{"AUTHSERVER_TOKENS_ACCESS_TTL=5m"},
			func(c Config) bool { return c.Tokens.AccessTTL == 5*time.Minute }},
		{"int-with-underscore-key", []string{"AUTHSERVER_PASSWORDS_LOCKOUT_MAX_FAILURES_PER_IP=10"},
			func(c Config) bool {
				return c.Passwords.Lockout.MaxFailuresPerIP == 10 && c.Passwords.Lockout.MaxFailures == 5
			}},
		{"key-prefix", []string{"AUTHSERVER_STORE_REDIS_KEY_PREFIX=staging:"},
			func(c Config) bool { return c.Store.Redis.KeyPrefix == "staging:" }},
		{"master-name", []string{"AUTHSERVER_STORE_REDIS_MASTER_NAME=mymaster"},
			func(c Config) bool { return c.Store.Redis.MasterName == "mymaster" }},
		{"bool", []string{"AUTHSERVER_STORE_REDIS_TLS=true"},
			func(c Config) bool { return c.Store.Redis.TLS }},
		{"uint8", []string{"AUTHSERVER_PASSWORDS_ARGON2_PARALLELISM=4", "AUTHSERVER_PASSWORDS_ARGON2_MEMORY=65536"},
			func(c Config) bool { return c.Passwords.Argon2 == Argon2{Memory: 65536, Iterations: 2, Parallelism: 4} }},
		{"empty-string", []string{"AUTHSERVER_HTTP_ADMIN_ADDR="},
			func(c Config) bool { return c.HTTP.AdminAddr == "" }},
		{"last-duplicate-wins", []string{"AUTHSERVER_KEYS_RSA_BITS=3072", "AUTHSERVER_KEYS_RSA_BITS=4096"},
			func(c Config) bool { return c.Keys.RSABits == 4096 }},
		{"foreign-variables-ignored", []string{"AUTHSERVER_PORT=tcp://10.0.0.1:8080", "AUTHSERVER_SERVICE_HOST=10.0.0.1",
			"AUTHSERVER_CONFIG=/etc/authserver.yaml", "HOME=/root", "TOKENS_ACCESS_TTL=bad",
			"AUTHSERVER_PORT_8080_TCP_ADDR=10.0.0.1", "AUTHSERVER_TOKENS_ACCESS_TTL"},
			func(c Config) bool { return c.Tokens.AccessTTL == 15*time.Minute }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load("", tt.environ)
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if !tt.check(cfg) {
				t.Errorf("environment %q not applied: %+v", tt.environ, cfg)
			}
		})
	}
}

func TestEnvBeatsFile(t *testing.T) {
	environ := []string{
		"AUTHSERVER_TOKENS_ACCESS_TTL=2m",
		"AUTHSERVER_STORE_REDIS_ADDRS=redis-a:6379",
		"AUTHSERVER_PASSWORDS_LOCKOUT_MAX_FAILURES=9",
	}
	cfg, err := Load(prodFile(t), environ)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if cfg.Tokens.AccessTTL != 2*time.Minute {
		t.Errorf("tokens.access_ttl = %s, want the environment's 2m", cfg.Tokens.AccessTTL)
	}
	if !slices.Equal(cfg.Store.Redis.Addrs, []string{"redis-a:6379"}) {
		t.Errorf("store.redis.addrs = %q, want the environment's", cfg.Store.Redis.Addrs)
	}
	if l := cfg.Passwords.Lockout; l.MaxFailures != 9 || l.MaxFailuresPerIP != 20 || l.Window != time.Hour {
		t.Errorf("passwords.lockout = %+v, want max_failures from the environment, the rest from the file", l)
	}
	if cfg.Store.Driver != "redis" {
		t.Errorf("store.driver = %q, want the file's redis", cfg.Store.Driver)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string // written to a file unless "-"
		environ  []string
		wantKeys []string // problems of an *Error; nil for a plain error
		wantText []string // substrings of the error message
	}{
		{name: "missing-file", yaml: "-", wantText: []string{"missing.yaml", "no such file"}},
		{name: "unparsable", yaml: "tokens: [\n", wantText: []string{"authserver.yaml", "parse config file"}},
		{name: "two-documents", yaml: "issuer: http://a:1\n---\nissuer: http://b:1\n", wantText: []string{"more than one YAML document"}},
		{name: "unknown-top-key", yaml: "isuer: http://a:1\n", wantKeys: []string{"isuer"}, wantText: []string{"authserver.yaml:1", "unknown key"}},
		{name: "unknown-nested-key", yaml: "tokens:\n  acess_ttl: 5m\n", wantKeys: []string{"tokens.acess_ttl"}, wantText: []string{":2: tokens.acess_ttl: unknown key"}},
		{name: "unknown-client-key", yaml: "clients:\n  - id: a\n    secret: x\n", wantKeys: []string{"clients[0] (a).secret"}},
		{name: "dotted-key", yaml: "tokens.access_ttl: 5m\n", wantKeys: []string{"tokens.access_ttl"}, wantText: []string{"unknown key"}},
		{name: "duplicate-key", yaml: "issuer: http://a:1\nissuer: http://b:1\n", wantKeys: []string{"issuer"}, wantText: []string{"twice"}},
		{name: "duration-without-unit", yaml: "tokens: {access_ttl: 900}\n", wantKeys: []string{"tokens.access_ttl"}, wantText: []string{`"900"`}},
		{name: "bad-duration", yaml: "keys: {publish_ahead: soon}\n", wantKeys: []string{"keys.publish_ahead"}, wantText: []string{`invalid duration "soon"`}},
		{name: "bad-int", yaml: "keys: {rsa_bits: 2048.5}\n", wantKeys: []string{"keys.rsa_bits"}, wantText: []string{`"2048.5"`}},
		{name: "uint8-overflow", yaml: "passwords: {argon2: {parallelism: 256}}\n", wantKeys: []string{"passwords.argon2.parallelism"}, wantText: []string{"out of range"}},
		{name: "negative-uint", yaml: "passwords: {argon2: {memory: -1}}\n", wantKeys: []string{"passwords.argon2.memory"}, wantText: []string{"out of range"}},
		{name: "bad-bool", yaml: "clients: [{id: a, public: yes}]\n", wantKeys: []string{"clients[0] (a).public"}, wantText: []string{`"yes"`}},
		{name: "list-wanted", yaml: "tokens: {audience: api}\n", wantKeys: []string{"tokens.audience"}, wantText: []string{"want a list"}},
		{name: "mapping-wanted", yaml: "http: 127.0.0.1:8080\n", wantKeys: []string{"http"}, wantText: []string{"want a mapping"}},
		{name: "scalar-wanted", yaml: "issuer: [a]\n", wantKeys: []string{"issuer"}, wantText: []string{"want a single value"}},
		{name: "top-level-list", yaml: "- a\n", wantKeys: []string{""}, wantText: []string{"want a mapping"}},
		{name: "env-bad-duration", environ: []string{"AUTHSERVER_TOKENS_ACCESS_TTL=5x"}, wantKeys: []string{"tokens.access_ttl"},
			wantText: []string{"AUTHSERVER_TOKENS_ACCESS_TTL", "tokens.access_ttl", `"5x"`}},
		{name: "env-bad-int", environ: []string{"AUTHSERVER_PASSWORDS_LOCKOUT_MAX_FAILURES_PER_IP=ten"},
			wantKeys: []string{"passwords.lockout.max_failures_per_ip"}, wantText: []string{`"ten"`}},
		{name: "env-bad-bool", environ: []string{"AUTHSERVER_STORE_REDIS_TLS=on"}, wantKeys: []string{"store.redis.tls"}, wantText: []string{`"on"`}},
		{name: "env-unknown-in-section", environ: []string{"AUTHSERVER_TOKENS_ACCES_TTL=5m"}, wantKeys: []string{""},
			wantText: []string{"AUTHSERVER_TOKENS_ACCES_TTL", "no configuration key"}},
		{name: "env-section-itself", environ: []string{"AUTHSERVER_STORE_REDIS=x"}, wantKeys: []string{""}},
		{name: "env-clients", environ: []string{"AUTHSERVER_CLIENTS_0_ID=x"}, wantKeys: []string{"clients"}, wantText: []string{"only in the file"}},
		{name: "file-and-env-together",
			yaml:     "tokens:\n  access_ttl: 5\n  bogus: 1\npasswords: {argon2: {iterations: -2}}\n",
			environ:  []string{"AUTHSERVER_KEYS_RSA_BITS=big"},
			wantKeys: []string{"tokens.access_ttl", "tokens.bogus", "passwords.argon2.iterations", "keys.rsa_bits"},
			wantText: []string{"4 problems"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var file string
			switch tt.yaml {
			case "":
			case "-":
				file = filepath.Join(t.TempDir(), "missing.yaml")
			default:
				file = writeFile(t, tt.yaml)
			}
			cfg, err := Load(file, tt.environ)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			if !reflect.DeepEqual(cfg, Config{}) {
				t.Errorf("Load returned a config with a load error: %+v", cfg)
			}
			if tt.wantKeys == nil {
				var cerr *Error
				if errors.As(err, &cerr) {
					t.Errorf("Load = %v, want a plain error", err)
				}
			} else if keys := problemKeys(t, err); !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("problem keys = %q, want %q\n%v", keys, tt.wantKeys, err)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestLoadValidates(t *testing.T) {
	file := writeFile(t, "store: {driver: redis}\ntokens: {access_ttl: 200h}\n")
	cfg, err := Load(file, nil)
	want := []string{"keys.encryption_key", "tokens.access_ttl"}
	if keys := problemKeys(t, err); !slices.Equal(keys, want) {
		t.Errorf("problem keys = %q, want %q", keys, want)
	}
	if cfg.Store.Driver != "redis" {
		t.Errorf("Load did not return the invalid config alongside its problems: %+v", cfg)
	}
}

func TestEnvNamesAreUnique(t *testing.T) {
	seen := make(map[string]string)
	for _, f := range leaves(configType, "", nil) {
		name := envName(f.key)
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s share the variable %s", other, f.key, name)
		}
		seen[name] = f.key
	}
}

// The reference must keep up with the code.
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range leaves(configType, "", nil) {
		for _, s := range []string{"`" + f.key + "`", "`" + envName(f.key) + "`"} {
			if !bytes.Contains(doc, []byte(s)) {
				t.Errorf("docs/configuration.md does not mention %s", s)
			}
		}
	}
}

func TestClientLookup(t *testing.T) {
	c := Config{Clients: []Client{
		{ID: "mobile-app", Public: true, Grants: []string{GrantPassword, GrantRefreshToken}},
		{ID: "billing-worker", Grants: []string{GrantClientCredentials}},
	}}
	tests := []struct {
		name       string
		id, grant  string
		wantFound  bool
		wantAllows bool
	}{
		{"public-password", "mobile-app", GrantPassword, true, true},
		{"public-client-credentials", "mobile-app", GrantClientCredentials, true, false},
		{"worker-client-credentials", "billing-worker", GrantClientCredentials, true, true},
		{"worker-refresh", "billing-worker", GrantRefreshToken, true, false},
		{"unknown-client", "nobody", GrantPassword, false, false},
		{"empty-id", "", GrantPassword, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, ok := c.Client(tt.id)
			if ok != tt.wantFound || (ok && cl.ID != tt.id) {
				t.Fatalf("Client(%q) = %+v, %v", tt.id, cl, ok)
			}
			if got := cl.Allows(tt.grant); got != tt.wantAllows {
				t.Errorf("Allows(%q) = %v, want %v", tt.grant, got, tt.wantAllows)
			}
		})
	}
}

// The examples of the reference are valid configurations.
func TestDocsExamplesLoad(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")[1:]
	if len(blocks) < 2 {
		t.Fatalf("docs/configuration.md has %d YAML examples, want the development and production ones", len(blocks))
	}
	environ := []string{"AUTHSERVER_KEYS_ENCRYPTION_KEY=" + testKey, "AUTHSERVER_STORE_REDIS_PASSWORD=pw"}
	for i, b := range blocks {
		b, _, _ = strings.Cut(b, "```")
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			cfg, err := Load(writeFile(t, b), environ)
			if err != nil {
				t.Fatalf("example %d: %v\n%s", i, err, b)
			}
			if len(cfg.Clients) == 0 {
				t.Errorf("example %d configures no client", i)
			}
		})
	}
}
