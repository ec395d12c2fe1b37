package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"
)

// testSecretHash is the secret_hash of the secret
// "billing-secret-billing-secret-billing" (clientsecret.Hash).
const testSecretHash = "sha256:nVV3dkKSOx1SlKV7o7GrGEQxE7sto4778xsQTZGteFU"

// testSecretHash2 is a second valid secret_hash (the SHA-256 of "x").
const testSecretHash2 = "sha256:LXEWQrcmsEQBYnyp-6wy9chTD7GQPMTbAiWHF5IaSIE"

// validConfig is Default with a public and a confidential client.
func validConfig() Config {
	c := Default()
	c.Clients = []Client{
		{ID: "mobile-app", Public: true, Grants: []string{GrantPassword, GrantRefreshToken},
			Scopes: []string{"profile", "orders:read"}, Audience: []string{"orders-api"}},
		{ID: "billing-worker", SecretHash: testSecretHash,
			Grants: []string{GrantClientCredentials}, Scopes: []string{"billing"}},
	}
	return c
}

func TestValidate(t *testing.T) {
	key16 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 16))
	raw32 := bytes.Repeat([]byte{0xfb}, 32) // encodes with + and / or - and _
	redis := func(c *Config) {
		c.Store.Driver = DriverRedis
		c.Keys.EncryptionKey = testKey
	}
	tests := []struct {
		name     string
		mutate   func(*Config)
		wantKeys []string // nil: valid
	}{
		{"valid", func(*Config) {}, nil},
		{"valid-redis", redis, nil},
		{"valid-https-issuer-with-path", func(c *Config) { c.Issuer = "https://auth.example.com/tenant" }, nil},
		{"issuer-empty", func(c *Config) { c.Issuer = "" }, []string{"issuer"}},
		{"issuer-relative", func(c *Config) { c.Issuer = "/auth" }, []string{"issuer"}},
		{"issuer-no-scheme", func(c *Config) { c.Issuer = "auth.example.com" }, []string{"issuer"}},
		{"issuer-ftp", func(c *Config) { c.Issuer = "ftp://auth.example.com" }, []string{"issuer"}},
		{"issuer-no-host", func(c *Config) { c.Issuer = "https:///path" }, []string{"issuer"}},
		{"issuer-query", func(c *Config) { c.Issuer = "https://auth.example.com?x=1" }, []string{"issuer"}},
		{"issuer-empty-query", func(c *Config) { c.Issuer = "https://auth.example.com?" }, []string{"issuer"}},
		{"issuer-fragment", func(c *Config) { c.Issuer = "https://auth.example.com#top" }, []string{"issuer"}},
		{"issuer-empty-fragment", func(c *Config) { c.Issuer = "https://auth.example.com#" }, []string{"issuer"}},
		{"issuer-user-info", func(c *Config) { c.Issuer = "https://user:pw@auth.example.com" }, []string{"issuer"}},
		{"http-addr-empty", func(c *Config) { c.HTTP.Addr = "" }, []string{"http.addr"}},
		{"http-addr-no-port", func(c *Config) { c.HTTP.Addr = "localhost" }, []string{"http.addr"}},
		{"valid-http-addr-any-host", func(c *Config) { c.HTTP.Addr = ":8080" }, nil},
		{"admin-addr-malformed", func(c *Config) { c.HTTP.AdminAddr = "9090" }, []string{"http.admin_addr"}},
		{"admin-addr-same-as-addr", func(c *Config) { c.HTTP.AdminAddr = c.HTTP.Addr }, []string{"http.admin_addr"}},
		{"trusted-proxy-malformed", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "proxy.local"} }, []string{"http.trusted_proxies"}},
		{"read-header-timeout-zero", func(c *Config) { c.HTTP.ReadHeaderTimeout = 0 }, []string{"http.read_header_timeout"}},
		{"read-timeout-zero", func(c *Config) { c.HTTP.ReadTimeout = 0 }, []string{"http.read_timeout"}},
		{"write-timeout-negative", func(c *Config) { c.HTTP.WriteTimeout = -time.Second }, []string{"http.write_timeout"}},
		{"idle-timeout-zero", func(c *Config) { c.HTTP.IdleTimeout = 0 }, []string{"http.idle_timeout"}},
		{"shutdown-timeout-zero", func(c *Config) { c.HTTP.ShutdownTimeout = 0 }, []string{"http.shutdown_timeout"}},
		{"driver-unknown", func(c *Config) { c.Store.Driver = "mysql" }, []string{"store.driver"}},
		{"embedded-path-empty", func(c *Config) { c.Store.Embedded.Path = "" }, []string{"store.embedded.path"}},
		{"valid-embedded-path-unused-by-redis", func(c *Config) { redis(c); c.Store.Embedded.Path = "" }, nil},
		{"redis-addrs-empty", func(c *Config) { redis(c); c.Store.Redis.Addrs = nil }, []string{"store.redis.addrs"}},
		{"redis-addr-malformed", func(c *Config) { redis(c); c.Store.Redis.Addrs = []string{"a:6379", "b"} }, []string{"store.redis.addrs[1]"}},
		{"redis-without-encryption-key", func(c *Config) { c.Store.Driver = DriverRedis }, []string{"keys.encryption_key"}},
		{"redis-db-negative", func(c *Config) { c.Store.Redis.DB = -1 }, []string{"store.redis.db"}},
		{"redis-db-with-cluster", func(c *Config) { c.Store.Redis.DB = 2; c.Store.Redis.Addrs = []string{"a:6379", "b:6379"} }, []string{"store.redis.db"}},
		{"valid-redis-db-with-sentinel", func(c *Config) {
			c.Store.Redis.DB = 2
			c.Store.Redis.MasterName = "mymaster"
			c.Store.Redis.Addrs = []string{"a:26379", "b:26379"}
		}, nil},
		{"redis-key-prefix-hash-tag", func(c *Config) { c.Store.Redis.KeyPrefix = "{auth}:" }, []string{"store.redis.key_prefix"}},
		{"redis-dial-timeout-zero", func(c *Config) { c.Store.Redis.DialTimeout = 0 }, []string{"store.redis.dial_timeout"}},
		{"redis-read-timeout-zero", func(c *Config) { c.Store.Redis.ReadTimeout = 0 }, []string{"store.redis.read_timeout"}},
		{"redis-write-timeout-zero", func(c *Config) { c.Store.Redis.WriteTimeout = 0 }, []string{"store.redis.write_timeout"}},
		{"redis-pool-size-negative", func(c *Config) { c.Store.Redis.PoolSize = -1 }, []string{"store.redis.pool_size"}},
		{"redis-min-replicas-negative", func(c *Config) { c.Store.Redis.MinReplicas = -1 }, []string{"store.redis.min_replicas"}},
		{"redis-replica-timeout-zero", func(c *Config) { c.Store.Redis.ReplicaTimeout = 0 }, []string{"store.redis.replica_timeout"}},
		{"access-ttl-zero", func(c *Config) { c.Tokens.AccessTTL = 0 }, []string{"tokens.access_ttl"}},
		{"refresh-idle-ttl-zero", func(c *Config) { c.Tokens.RefreshIdleTTL = 0 }, []string{"tokens.refresh_idle_ttl"}},
		{"refresh-max-ttl-zero", func(c *Config) { c.Tokens.RefreshMaxTTL = 0 }, []string{"tokens.refresh_max_ttl"}},
		{"reuse-grace-negative", func(c *Config) { c.Tokens.RefreshReuseGrace = -time.Second }, []string{"tokens.refresh_reuse_grace"}},
		{"valid-reuse-grace-zero", func(c *Config) { c.Tokens.RefreshReuseGrace = 0 }, nil},
		{"access-ttl-not-below-idle", func(c *Config) { c.Tokens.AccessTTL = c.Tokens.RefreshIdleTTL }, []string{"tokens.access_ttl"}},
		{"idle-ttl-above-max", func(c *Config) { c.Tokens.RefreshIdleTTL = c.Tokens.RefreshMaxTTL + time.Hour }, []string{"tokens.refresh_idle_ttl"}},
		{"valid-idle-ttl-equals-max", func(c *Config) { c.Tokens.RefreshIdleTTL = c.Tokens.RefreshMaxTTL }, nil},
		{"audience-empty", func(c *Config) { c.Tokens.Audience = nil }, []string{"tokens.audience"}},
		{"audience-entry-empty", func(c *Config) { c.Tokens.Audience = []string{"api", " "} }, []string{"tokens.audience[1]"}},
		{"algorithm-unknown", func(c *Config) { c.Keys.Algorithm = "HS256" }, []string{"keys.algorithm"}},
		{"valid-algorithm-es256", func(c *Config) { c.Keys.Algorithm = "ES256" }, nil},
		{"valid-algorithm-eddsa", func(c *Config) { c.Keys.Algorithm = "EdDSA" }, nil},
		{"rsa-bits-too-small", func(c *Config) { c.Keys.RSABits = 1024 }, []string{"keys.rsa_bits"}},
		{"rsa-bits-too-large", func(c *Config) { c.Keys.RSABits = 16384 }, []string{"keys.rsa_bits"}},
		{"rotate-every-negative", func(c *Config) { c.Keys.RotateEvery = -time.Hour }, []string{"keys.rotate_every"}},
		{"valid-rotate-every-zero", func(c *Config) { c.Keys.RotateEvery = 0 }, nil},
		{"publish-ahead-zero", func(c *Config) { c.Keys.PublishAhead = 0 }, []string{"keys.publish_ahead"}},
		{"publish-ahead-not-below-rotate-every", func(c *Config) { c.Keys.PublishAhead = c.Keys.RotateEvery }, []string{"keys.publish_ahead"}},
		{"encryption-key-not-base64", func(c *Config) { c.Keys.EncryptionKey = "not base64!" }, []string{"keys.encryption_key"}},
		{"encryption-key-16-bytes", func(c *Config) { c.Keys.EncryptionKey = key16 }, []string{"keys.encryption_key"}},
		{"encryption-key-placeholder", func(c *Config) { c.Keys.EncryptionKey = "REDACTED" }, []string{"keys.encryption_key"}},
		{"valid-encryption-key-std", func(c *Config) { c.Keys.EncryptionKey = base64.StdEncoding.EncodeToString(raw32) }, nil},
		{"valid-encryption-key-raw-std", func(c *Config) { c.Keys.EncryptionKey = base64.RawStdEncoding.EncodeToString(raw32) }, nil},
		{"valid-encryption-key-url", func(c *Config) { c.Keys.EncryptionKey = base64.URLEncoding.EncodeToString(raw32) }, nil},
		{"valid-encryption-key-raw-url", func(c *Config) { c.Keys.EncryptionKey = base64.RawURLEncoding.EncodeToString(raw32) }, nil},
		{"signer-unknown", func(c *Config) { c.Keys.Signer = "boringssl" }, []string{"keys.signer"}},
		{"valid-signer-openssl", func(c *Config) { c.Keys.Signer = "openssl" }, nil},
		{"lockout-max-failures-zero", func(c *Config) { c.Passwords.Lockout.MaxFailures = 0 }, []string{"passwords.lockout.max_failures"}},
		{"lockout-window-zero", func(c *Config) { c.Passwords.Lockout.Window = 0 }, []string{"passwords.lockout.window"}},
		{"lockout-per-ip-zero", func(c *Config) { c.Passwords.Lockout.MaxFailuresPerIP = 0 }, []string{"passwords.lockout.max_failures_per_ip"}},
		{"argon2-memory-below-8-per-lane", func(c *Config) { c.Passwords.Argon2 = Argon2{Memory: 31, Iterations: 1, Parallelism: 4} }, []string{"passwords.argon2.memory"}},
		{"valid-argon2-memory-minimum", func(c *Config) { c.Passwords.Argon2 = Argon2{Memory: 32, Iterations: 1, Parallelism: 4} }, nil},
		{"argon2-iterations-zero", func(c *Config) { c.Passwords.Argon2.Iterations = 0 }, []string{"passwords.argon2.iterations"}},
		{"argon2-parallelism-zero", func(c *Config) { c.Passwords.Argon2.Parallelism = 0 }, []string{"passwords.argon2.parallelism"}},
		{"max-concurrent-negative", func(c *Config) { c.Passwords.MaxConcurrent = -1 }, []string{"passwords.max_concurrent"}},
		{"client-id-empty", func(c *Config) { c.Clients[0].ID = "" }, []string{"clients[0].id"}},
		{"client-id-duplicate", func(c *Config) {
			c.Clients[1].ID = "mobile-app"
			c.Clients[1].Public = true
			c.Clients[1].SecretHash = ""
			c.Clients[1].Grants = []string{GrantPassword}
		},
			[]string{"clients[1] (mobile-app).id"}},
		{"client-unknown-grant", func(c *Config) { c.Clients[1].Grants = append(c.Clients[1].Grants, "implicit") }, []string{"clients[1] (billing-worker).grants"}},
		{"valid-token-profile", func(c *Config) { c.Clients[0].TokenProfile = TokenProfileSimpleJWT }, nil},
		{"client-unknown-token-profile", func(c *Config) { c.Clients[0].TokenProfile = "drf-jwt" }, []string{"clients[0] (mobile-app).token_profile"}},
		{"client-no-grants", func(c *Config) { c.Clients[1].Grants = nil }, []string{"clients[1] (billing-worker).grants"}},
		{"public-client-with-secret", func(c *Config) { c.Clients[0].SecretHash = testSecretHash }, []string{"clients[0] (mobile-app).secret_hash"}},
		{"public-client-credentials", func(c *Config) { c.Clients[0].Grants = append(c.Clients[0].Grants, GrantClientCredentials) },
			[]string{"clients[0] (mobile-app).grants"}},
		{"public-client-introspect", func(c *Config) { c.Clients[0].Introspect = true }, []string{"clients[0] (mobile-app).introspect"}},
		{"valid-confidential-introspect", func(c *Config) { c.Clients[1].Introspect = true }, nil},
		{"confidential-without-secret", func(c *Config) { c.Clients[1].SecretHash = "" }, []string{"clients[1] (billing-worker).secret_hash"}},
		{"secret-hash-no-prefix", func(c *Config) { c.Clients[1].SecretHash = strings.TrimPrefix(testSecretHash, "sha256:") },
			[]string{"clients[1] (billing-worker).secret_hash"}},
		{"secret-hash-padded", func(c *Config) {
			sum := sha256.Sum256([]byte("x"))
			c.Clients[1].SecretHash = "sha256:" + base64.URLEncoding.EncodeToString(sum[:])
		}, []string{"clients[1] (billing-worker).secret_hash"}},
		{"secret-hash-short", func(c *Config) {
			c.Clients[1].SecretHash = "sha256:" + base64.RawURLEncoding.EncodeToString([]byte("short"))
		},
			[]string{"clients[1] (billing-worker).secret_hash"}},
		{"secret-hash-placeholder", func(c *Config) { c.Clients[1].SecretHash = "REDACTED" }, []string{"clients[1] (billing-worker).secret_hash"}},
		{"two-live-secrets", func(c *Config) { c.Clients[1].SecretHashes = []string{testSecretHash2} }, nil},
		{"secret-hashes-only", func(c *Config) {
			c.Clients[1].SecretHash, c.Clients[1].SecretHashes = "", []string{testSecretHash, testSecretHash2}
		}, nil},
		{"secret-hashes-bad", func(c *Config) { c.Clients[1].SecretHashes = []string{"sha256:short"} }, []string{"clients[1] (billing-worker).secret_hashes[0]"}},
		{"secret-hashes-empty-entry", func(c *Config) { c.Clients[1].SecretHashes = []string{""} }, []string{"clients[1] (billing-worker).secret_hashes[0]"}},
		{"secret-hashes-placeholder", func(c *Config) { c.Clients[1].SecretHashes = []string{"REDACTED"} }, []string{"clients[1] (billing-worker).secret_hashes[0]"}},
		{"public-client-with-secret-hashes", func(c *Config) { c.Clients[0].SecretHashes = []string{testSecretHash} }, []string{"clients[0] (mobile-app).secret_hash"}},
		{"scope-with-space", func(c *Config) { c.Clients[0].Scopes[1] = "orders read" }, []string{"clients[0] (mobile-app).scopes[1]"}},
		{"scope-empty", func(c *Config) { c.Clients[1].Scopes = []string{""} }, []string{"clients[1] (billing-worker).scopes[0]"}},
		{"scope-with-quote", func(c *Config) { c.Clients[1].Scopes = []string{`a"b`} }, []string{"clients[1] (billing-worker).scopes[0]"}},
		{"client-audience-entry-empty", func(c *Config) { c.Clients[0].Audience = []string{""} }, []string{"clients[0] (mobile-app).audience[0]"}},
		{"valid-no-clients", func(c *Config) { c.Clients = nil }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantKeys == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want problems with %q", tt.wantKeys)
			}
			if keys := problemKeys(t, err); !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("problem keys = %q, want %q\n%v", keys, tt.wantKeys, err)
			}
			for _, k := range tt.wantKeys {
				if !strings.Contains(err.Error(), k+": ") {
					t.Errorf("error %q does not name %s", err, k)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := validConfig()
	c.Issuer = "ftp://x"
	c.Store.Driver = DriverRedis
	c.Store.Redis.Addrs = nil
	c.Tokens.AccessTTL = 0
	c.Keys.Algorithm = "none"
	c.Passwords.Argon2.Iterations = 0
	c.Clients[1].Grants = []string{"implicit"}
	want := []string{
		"issuer",
		"store.redis.addrs",
		"keys.encryption_key",
		"tokens.access_ttl",
		"keys.algorithm",
		"passwords.argon2.iterations",
		"clients[1] (billing-worker).grants",
	}
	err := c.Validate()
	if keys := problemKeys(t, err); !slices.Equal(keys, want) {
		t.Errorf("problem keys = %q, want %q", keys, want)
	}
	if got := strings.Count(err.Error(), "\n"); got != len(want) {
		t.Errorf("error has %d lines after the first, want one per problem:\n%v", got, err)
	}
	if !strings.HasPrefix(err.Error(), "invalid configuration: 7 problems:") {
		t.Errorf("error %q lacks the summary line", err)
	}
}

func TestValidateKeepsSecretsOutOfMessages(t *testing.T) {
	secrets := []string{
		base64.StdEncoding.EncodeToString([]byte("sixteen byte key")),
		"not-base64-but-secret!!",
	}
	for _, s := range secrets {
		c := validConfig()
		c.Keys.EncryptionKey = s
		c.Clients[1].SecretHash = "sha256:" + s
		err := c.Validate()
		if err == nil {
			t.Fatalf("Validate accepted encryption key %q", s)
		}
		if strings.Contains(err.Error(), s) {
			t.Errorf("error reveals a secret: %v", err)
		}
	}
}

func TestDecodeEncryptionKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfe, 0xff}, 16)
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"std", base64.StdEncoding.EncodeToString(raw), ""},
		{"raw-std", base64.RawStdEncoding.EncodeToString(raw), ""},
		{"url", base64.URLEncoding.EncodeToString(raw), ""},
		{"raw-url", base64.RawURLEncoding.EncodeToString(raw), ""},
		{"trailing-newline", base64.StdEncoding.EncodeToString(raw) + "\n", ""},
		{"empty", "", "empty"},
		{"not-base64", "%%%%", "not base64"},
		{"31-bytes", base64.StdEncoding.EncodeToString(raw[:31]), "31 bytes"},
		{"33-bytes", base64.StdEncoding.EncodeToString(append(raw, 0)), "33 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEncryptionKey(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DecodeEncryptionKey = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("DecodeEncryptionKey = %x, %v, want %x", got, err, raw)
			}
		})
	}
}
