// Package config loads, validates and prints the configuration of
// authserver.
//
// A configuration is built in three layers: the defaults of Default, then a
// YAML file, then environment variables named AUTHSERVER_ followed by the
// key path in upper case with "_" for nesting (AUTHSERVER_TOKENS_ACCESS_TTL
// sets tokens.access_ttl). Load assembles the layers and validates the
// result; the other packages of authserver receive the plain Config struct
// and never see viper. docs/configuration.md is the reference of every key.
package config

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/oauthkit/authserver/authserver/clientsecret"
)

// Store drivers accepted in store.driver.
const (
	DriverEmbedded = "embedded"
	DriverRedis    = "redis"
)

// Grant types a client may be allowed in clients[].grants.
const (
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
)

// redacted replaces every secret in Redacted output.
const redacted = "REDACTED"

// Config is the whole configuration of authserver. Its mapstructure tags
// are the keys of the YAML file.
type Config struct {
	// Issuer is the iss claim of every token and the base of the discovery
	// document: an absolute http(s) URL without query or fragment.
	Issuer    string    `mapstructure:"issuer"`
	HTTP      HTTP      `mapstructure:"http"`
	Store     Store     `mapstructure:"store"`
	Tokens    Tokens    `mapstructure:"tokens"`
	Keys      Keys      `mapstructure:"keys"`
	Passwords Passwords `mapstructure:"passwords"`
	Login     Login     `mapstructure:"login"`
	// Clients are the OAuth2 clients; they can be set only in the file.
	Clients []Client `mapstructure:"clients"`
}

// HTTP configures the listeners and the timeouts of the HTTP server.
type HTTP struct {
	// Addr is the host:port of the OAuth2 endpoints.
	Addr string `mapstructure:"addr"`
	// AdminAddr, when set, is a separate host:port for metrics and pprof;
	// empty means no admin listener, and metrics are served on Addr.
	AdminAddr         string        `mapstructure:"admin_addr"`
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	ReadTimeout       time.Duration `mapstructure:"read_timeout"`
	WriteTimeout      time.Duration `mapstructure:"write_timeout"`
	IdleTimeout       time.Duration `mapstructure:"idle_timeout"`
	// ShutdownDelay is how long the server keeps serving after SIGTERM,
	// with /readyz answering 503, so that load balancers stop sending to
	// it before it stops accepting connections.
	ShutdownDelay time.Duration `mapstructure:"shutdown_delay"`
	// ShutdownTimeout bounds the wait for in-flight requests once the
	// server has stopped accepting connections.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// TrustedProxies are the addresses or CIDR prefixes of our own
	// reverse proxies, whose X-Forwarded-For entries are believed.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
}

// ParsePrefixes parses addresses or CIDR prefixes (a bare address is a
// prefix of its full length).
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("parse %q: want an IP address or a CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Store selects and configures the storage backend.
type Store struct {
	// Driver is DriverEmbedded or DriverRedis.
	Driver   string   `mapstructure:"driver"`
	Embedded Embedded `mapstructure:"embedded"`
	Redis    Redis    `mapstructure:"redis"`
}

// Embedded configures the embedded SQLite store.
type Embedded struct {
	// Path is the database file; its directory holds the generated
	// encryption key when keys.encryption_key is empty.
	Path string `mapstructure:"path"`
}

// Redis configures the Redis store. One address gives a plain client,
// several give Redis Cluster, and MasterName gives Sentinel.
type Redis struct {
	Addrs      []string `mapstructure:"addrs"`
	MasterName string   `mapstructure:"master_name"`
	Username   string   `mapstructure:"username"`
	// Password is a secret: Redacted hides it.
	Password string `mapstructure:"password"`
	// PasswordFile names a file holding the password (a Kubernetes Secret,
	// a Docker secret, a systemd credential). Load reads it once into
	// Password; setting both is an error.
	PasswordFile string `mapstructure:"password_file"`
	DB           int    `mapstructure:"db"`
	// KeyPrefix starts every key authserver writes.
	KeyPrefix    string        `mapstructure:"key_prefix"`
	TLS          bool          `mapstructure:"tls"`
	DialTimeout  time.Duration `mapstructure:"dial_timeout"`
	ReadTimeout  time.Duration `mapstructure:"read_timeout"`
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// PoolSize is the connection pool size; 0 keeps the go-redis default.
	PoolSize int `mapstructure:"pool_size"`
	// MinReplicas, above 0, makes every acknowledged write wait (WAIT)
	// until that many replicas have it; if they do not within
	// ReplicaTimeout, the request fails with 503.
	MinReplicas    int           `mapstructure:"min_replicas"`
	ReplicaTimeout time.Duration `mapstructure:"replica_timeout"`
}

// Tokens configures the lifetimes and audience of issued tokens.
type Tokens struct {
	AccessTTL time.Duration `mapstructure:"access_ttl"`
	// RefreshIdleTTL ends a refresh-token family unused this long.
	RefreshIdleTTL time.Duration `mapstructure:"refresh_idle_ttl"`
	// RefreshMaxTTL ends a family this long after its login, whatever its use.
	RefreshMaxTTL time.Duration `mapstructure:"refresh_max_ttl"`
	// RefreshReuseGrace is how long a just-rotated refresh token may be
	// presented again and get the same response.
	RefreshReuseGrace time.Duration `mapstructure:"refresh_reuse_grace"`
	// Audience is the aud claim for clients that name no audience.
	Audience []string `mapstructure:"audience"`
}

// Keys configures the signing keys and their rotation.
type Keys struct {
	// Algorithm is RS256, ES256 or EdDSA.
	Algorithm string `mapstructure:"algorithm"`
	// RSABits is the modulus size of new RSA keys.
	RSABits int `mapstructure:"rsa_bits"`
	// RotateEvery is the period of scheduled rotation; 0 rotates only by hand.
	RotateEvery time.Duration `mapstructure:"rotate_every"`
	// PublishAhead is how long a new key is in the JWKS before it signs.
	PublishAhead time.Duration `mapstructure:"publish_ahead"`
	// EncryptionKey is the base64 of the 32-byte key that seals private
	// keys in the store (see DecodeEncryptionKey). It is a secret:
	// Redacted hides it.
	EncryptionKey string `mapstructure:"encryption_key"`
	// EncryptionKeyFile names a file holding the encryption key. Load
	// reads it once into EncryptionKey; setting both is an error.
	EncryptionKeyFile string `mapstructure:"encryption_key_file"`
	// PreviousEncryptionKeys are key-encryption keys that open what they
	// sealed and verify the refresh tokens issued under them, but never
	// seal: the keys being retired by a rotation, or a new key being
	// introduced before it becomes EncryptionKey. Secrets: Redacted hides
	// them.
	PreviousEncryptionKeys []string `mapstructure:"previous_encryption_keys"`
	// PreviousEncryptionKeysFile names a file holding the previous keys,
	// one per line. Load reads it once into PreviousEncryptionKeys;
	// setting both is an error.
	PreviousEncryptionKeysFile string `mapstructure:"previous_encryption_keys_file"`
	// Signer is the RS256 signing backend: "go" (crypto/rsa) or
	// "openssl" (libcrypto, in a binary built with -tags openssl).
	Signer string `mapstructure:"signer"`
}

// Passwords configures password hashing and login lockout.
type Passwords struct {
	Lockout Lockout `mapstructure:"lockout"`
	Argon2  Argon2  `mapstructure:"argon2"`
	// MaxConcurrent bounds concurrent password hashes; 0 means half the
	// CPUs (at least one), so logins never take every core.
	MaxConcurrent int `mapstructure:"max_concurrent"`
}

// Lockout configures the refusal of logins after repeated failures.
type Lockout struct {
	// MaxFailures is the number of failures per username within Window
	// after which logins are refused until the window has passed.
	MaxFailures int           `mapstructure:"max_failures"`
	Window      time.Duration `mapstructure:"window"`
	// MaxFailuresPerIP is the same limit per client IP address.
	MaxFailuresPerIP int `mapstructure:"max_failures_per_ip"`
}

// Login configures the login page of the authorization code flow.
type Login struct {
	// SessionTTL is how long a signed-in browser skips the login form.
	SessionTTL time.Duration `mapstructure:"session_ttl"`
	// TemplatesDir holds the operator's own page templates and
	// stylesheet; each file missing there keeps the built-in one.
	TemplatesDir string `mapstructure:"templates_dir"`
	// ProductName is shown on the login pages.
	ProductName string `mapstructure:"product_name"`
}

// Argon2 holds the argon2id parameters of new password hashes.
type Argon2 struct {
	// Memory is in KiB.
	Memory      uint32 `mapstructure:"memory"`
	Iterations  uint32 `mapstructure:"iterations"`
	Parallelism uint8  `mapstructure:"parallelism"`
}

// Client is one OAuth2 client.
type Client struct {
	ID string `mapstructure:"id"`
	// Public clients have no secret and may use every grant but
	// client_credentials.
	Public bool `mapstructure:"public"`
	// SecretHash is "sha256:" followed by the unpadded base64url SHA-256 of
	// the client secret (package clientsecret). Redacted hides it.
	SecretHash string `mapstructure:"secret_hash"`
	// SecretHashes are further live secrets of the client, beside
	// SecretHash: to rotate a secret, add the new hash here, deploy the
	// new secret to the client, then remove the old hash. Redacted hides
	// them.
	SecretHashes []string `mapstructure:"secret_hashes"`
	Grants       []string `mapstructure:"grants"`
	// Scopes are the scopes the client may request; a request without
	// scope gets all of them.
	Scopes []string `mapstructure:"scopes"`
	// Audience, when set, replaces tokens.audience for this client.
	Audience []string `mapstructure:"audience"`
	// Introspect lets a confidential client call the introspection
	// endpoint: for access tokens of every client, and for its own
	// refresh tokens.
	Introspect bool `mapstructure:"introspect"`
	// TokenProfile adds claims that a kind of resource server expects:
	// TokenProfileSimpleJWT, or "" for none.
	TokenProfile string `mapstructure:"token_profile"`
	// RedirectURIs are where the authorization code flow may return:
	// compared exactly, but for the port of a loopback http redirect.
	RedirectURIs []string `mapstructure:"redirect_uris"`
	// AllowedOrigins may call the token, revocation and JWKS endpoints
	// from a browser (CORS): scheme://host[:port], nothing more.
	AllowedOrigins []string `mapstructure:"allowed_origins"`
	// Consent marks a third-party client: the user approves its scopes
	// on a consent screen.
	Consent bool `mapstructure:"consent"`
}

// TokenProfileSimpleJWT adds the claims that djangorestframework-simplejwt
// checks by default: token_type "access" and the user's user_id.
const TokenProfileSimpleJWT = "simplejwt"

// Default returns the configuration used when neither file nor environment
// says otherwise: an embedded store under ./data, listening on loopback.
func Default() Config {
	return Config{
		Issuer: "http://127.0.0.1:8080",
		HTTP: HTTP{
			Addr:              "127.0.0.1:8080",
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      15 * time.Second,
			IdleTimeout:       60 * time.Second,
			ShutdownTimeout:   15 * time.Second,
			TrustedProxies:    []string{},
		},
		Store: Store{
			Driver:   DriverEmbedded,
			Embedded: Embedded{Path: "./data/authserver.db"},
			Redis: Redis{
				Addrs:        []string{"127.0.0.1:6379"},
				KeyPrefix:    "authserver:",
				DialTimeout:  2 * time.Second,
				ReadTimeout:  time.Second,
				WriteTimeout: time.Second,
				// 0: acknowledged writes do not wait for replicas.
				ReplicaTimeout: 100 * time.Millisecond,
			},
		},
		Tokens: Tokens{
			AccessTTL:         15 * time.Minute,
			RefreshIdleTTL:    168 * time.Hour,
			RefreshMaxTTL:     672 * time.Hour,
			RefreshReuseGrace: 10 * time.Second,
			Audience:          []string{"api"},
		},
		Keys: Keys{
			Algorithm:    "RS256",
			RSABits:      2048,
			RotateEvery:  720 * time.Hour,
			PublishAhead: 10 * time.Minute,
			Signer:       "go",
		},
		Passwords: Passwords{
			Lockout: Lockout{MaxFailures: 5, Window: 15 * time.Minute, MaxFailuresPerIP: 100},
			// OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
			Argon2: Argon2{Memory: 19456, Iterations: 2, Parallelism: 1},
		},
		Login: Login{SessionTTL: 12 * time.Hour, ProductName: "authserver"},
	}
}

// Client returns the client with the given id.
func (c Config) Client(id string) (Client, bool) {
	for _, cl := range c.Clients {
		if cl.ID == id {
			return cl, true
		}
	}
	return Client{}, false
}

// Allows reports whether the client may use the grant type.
func (c Client) Allows(grant string) bool {
	return slices.Contains(c.Grants, grant)
}

// Redacted returns a deep copy of c in which every secret that is set (the
// Redis password, the encryption key and the client secret hashes) reads
// "REDACTED", for printing. A secret read from a file is left empty beside
// its file key instead, so that the output loads as it is.
func (c Config) Redacted() Config {
	out := c.clone()
	redactOrClear(&out.Store.Redis.Password, out.Store.Redis.PasswordFile)
	redactOrClear(&out.Keys.EncryptionKey, out.Keys.EncryptionKeyFile)
	if out.Keys.PreviousEncryptionKeysFile != "" {
		out.Keys.PreviousEncryptionKeys = nil
	}
	for i := range out.Keys.PreviousEncryptionKeys {
		redact(&out.Keys.PreviousEncryptionKeys[i])
	}
	for i := range out.Clients {
		redact(&out.Clients[i].SecretHash)
		for j := range out.Clients[i].SecretHashes {
			redact(&out.Clients[i].SecretHashes[j])
		}
	}
	return out
}

func redactOrClear(s *string, file string) {
	if file != "" {
		*s = ""
		return
	}
	redact(s)
}

func redact(s *string) {
	if *s != "" {
		*s = redacted
	}
}

// clone copies c so that no slice is shared with it.
func (c Config) clone() Config {
	out := c
	out.Store.Redis.Addrs = slices.Clone(c.Store.Redis.Addrs)
	out.Tokens.Audience = slices.Clone(c.Tokens.Audience)
	out.Keys.PreviousEncryptionKeys = slices.Clone(c.Keys.PreviousEncryptionKeys)
	out.Clients = slices.Clone(c.Clients)
	for i, cl := range out.Clients {
		out.Clients[i].SecretHashes = slices.Clone(cl.SecretHashes)
		out.Clients[i].Grants = slices.Clone(cl.Grants)
		out.Clients[i].Scopes = slices.Clone(cl.Scopes)
		out.Clients[i].Audience = slices.Clone(cl.Audience)
		out.Clients[i].RedirectURIs = slices.Clone(cl.RedirectURIs)
		out.Clients[i].AllowedOrigins = slices.Clone(cl.AllowedOrigins)
	}
	return out
}

// SecretHashList returns every live secret hash of the client:
// SecretHash, then SecretHashes, without empty entries or repeats.
func (c Client) SecretHashList() []string {
	return clientsecret.Live(c.SecretHash, c.SecretHashes)
}
