package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oauthkit/authserver/authserver/clientsecret"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Where is the source of the value when Load found the problem: "FILE:LINE"
	// or the name of the environment variable. Validate leaves it empty.
	Where string
	// Key is the configuration key, such as "tokens.access_ttl" or
	// "clients[1] (billing-worker).grants"; empty for an environment
	// variable that names no key.
	Key string
	// Message says what is wrong. It never contains a secret.
	Message string
}

// String formats p as "where: key: message", leaving out empty parts.
func (p Problem) String() string {
	var b strings.Builder
	for _, s := range []string{p.Where, p.Key} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error lists every Problem found in one pass over a configuration. Load
// and Validate return it as *Error; find it with errors.As.
type Error struct {
	Problems []Problem
}

// Error returns one line for a single problem, else one line per problem.
func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid configuration: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Validate checks the whole configuration and returns an *Error listing
// every problem, each naming its key, or nil.
func (c Config) Validate() error {
	var v validator
	v.issuer(c.Issuer)
	v.http(c.HTTP)
	v.store(c.Store, c.Keys.EncryptionKey)
	v.tokens(c.Tokens)
	v.keys(c.Keys)
	v.passwords(c.Passwords)
	v.login(c.Login)
	v.clients(c.Clients)
	if len(v.problems) == 0 {
		return nil
	}
	return &Error{Problems: v.problems}
}

type validator struct {
	problems []Problem
}

func (v *validator) add(key, format string, args ...any) {
	v.problems = append(v.problems, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.add(key, "must be greater than 0, got %s", formatDuration(d))
	}
}

func (v *validator) nonNegative(key string, d time.Duration) {
	if d < 0 {
		v.add(key, "must not be negative, got %s", formatDuration(d))
	}
}

func (v *validator) oneOf(key, got string, allowed ...string) {
	if !slices.Contains(allowed, got) {
		v.add(key, "%q is not one of %s", got, strings.Join(allowed, ", "))
	}
}

// hostPort checks a listen or dial address.
func (v *validator) hostPort(key, addr string) {
	if addr == "" {
		v.add(key, "must not be empty")
		return
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		v.add(key, "%q is not host:port, such as 127.0.0.1:8080 or :8080", addr)
	}
}

func (v *validator) issuer(s string) {
	const key = "issuer"
	// The value is not quoted in messages: it might hold user info.
	u, err := url.Parse(s)
	switch {
	case s == "":
		v.add(key, "must not be empty")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.add(key, "must be an absolute http or https URL, such as https://auth.example.com")
	case u.User != nil:
		v.add(key, "must not contain user info")
	case u.RawQuery != "" || u.ForceQuery:
		v.add(key, "must not have a query")
	case u.Fragment != "" || strings.Contains(s, "#"):
		v.add(key, "must not have a fragment")
	}
}

func (v *validator) http(h HTTP) {
	v.hostPort("http.addr", h.Addr)
	if h.AdminAddr != "" {
		v.hostPort("http.admin_addr", h.AdminAddr)
		if h.AdminAddr == h.Addr {
			v.add("http.admin_addr", "must differ from http.addr (leave it empty to serve no metrics and no pprof)")
		}
	}
	v.positive("http.read_header_timeout", h.ReadHeaderTimeout)
	v.positive("http.read_timeout", h.ReadTimeout)
	v.positive("http.write_timeout", h.WriteTimeout)
	v.positive("http.idle_timeout", h.IdleTimeout)
	v.nonNegative("http.shutdown_delay", h.ShutdownDelay)
	v.positive("http.shutdown_timeout", h.ShutdownTimeout)
	if _, err := ParsePrefixes(h.TrustedProxies); err != nil {
		v.add("http.trusted_proxies", "%v", err)
	}
}

func (v *validator) store(s Store, encryptionKey string) {
	v.oneOf("store.driver", s.Driver, DriverEmbedded, DriverRedis)
	if s.Driver == DriverEmbedded && s.Embedded.Path == "" {
		v.add("store.embedded.path", "must not be empty when store.driver is embedded")
	}
	r := s.Redis
	if s.Driver == DriverRedis {
		if len(r.Addrs) == 0 {
			v.add("store.redis.addrs", "must list at least one address when store.driver is redis")
		}
		for i, a := range r.Addrs {
			v.hostPort(fmt.Sprintf("store.redis.addrs[%d]", i), a)
		}
		if encryptionKey == "" {
			v.add("keys.encryption_key", "must be set (or keys.encryption_key_file) when store.driver is redis: every replica needs the same key")
		}
	}
	if r.DB < 0 {
		v.add("store.redis.db", "must not be negative, got %d", r.DB)
	}
	if r.DB != 0 && len(r.Addrs) > 1 && r.MasterName == "" {
		v.add("store.redis.db", "must be 0 with several addrs: Redis Cluster has only database 0")
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		v.add("store.redis.key_prefix", "must not contain { or }: they would change the Redis Cluster hash slot of every key")
	}
	v.positive("store.redis.dial_timeout", r.DialTimeout)
	v.positive("store.redis.read_timeout", r.ReadTimeout)
	v.positive("store.redis.write_timeout", r.WriteTimeout)
	if r.PoolSize < 0 {
		v.add("store.redis.pool_size", "must not be negative, got %d", r.PoolSize)
	}
	if r.MinReplicas < 0 {
		v.add("store.redis.min_replicas", "must not be negative, got %d", r.MinReplicas)
	}
	v.positive("store.redis.replica_timeout", r.ReplicaTimeout)
}

func (v *validator) tokens(t Tokens) {
	v.positive("tokens.access_ttl", t.AccessTTL)
	v.positive("tokens.refresh_idle_ttl", t.RefreshIdleTTL)
	v.positive("tokens.refresh_max_ttl", t.RefreshMaxTTL)
	v.nonNegative("tokens.refresh_reuse_grace", t.RefreshReuseGrace)
	if t.AccessTTL > 0 && t.RefreshIdleTTL > 0 && t.AccessTTL >= t.RefreshIdleTTL {
		v.add("tokens.access_ttl", "must be shorter than tokens.refresh_idle_ttl (%s), got %s", formatDuration(t.RefreshIdleTTL), formatDuration(t.AccessTTL))
	}
	if t.RefreshIdleTTL > 0 && t.RefreshMaxTTL > 0 && t.RefreshIdleTTL > t.RefreshMaxTTL {
		v.add("tokens.refresh_idle_ttl", "must not exceed tokens.refresh_max_ttl (%s), got %s", formatDuration(t.RefreshMaxTTL), formatDuration(t.RefreshIdleTTL))
	}
	v.audience("tokens.audience", t.Audience, true)
}

func (v *validator) audience(key string, aud []string, required bool) {
	if required && len(aud) == 0 {
		v.add(key, "must list at least one audience")
	}
	for i, a := range aud {
		if strings.TrimSpace(a) == "" {
			v.add(fmt.Sprintf("%s[%d]", key, i), "must not be empty")
		}
	}
}

func (v *validator) keys(k Keys) {
	v.oneOf("keys.algorithm", k.Algorithm, "RS256", "ES256", "EdDSA")
	if k.RSABits < 2048 || k.RSABits > 8192 {
		v.add("keys.rsa_bits", "must be between 2048 and 8192, got %d", k.RSABits)
	}
	v.nonNegative("keys.rotate_every", k.RotateEvery)
	v.positive("keys.publish_ahead", k.PublishAhead)
	if k.RotateEvery > 0 && k.PublishAhead > 0 && k.PublishAhead >= k.RotateEvery {
		v.add("keys.publish_ahead", "must be shorter than keys.rotate_every (%s), got %s", formatDuration(k.RotateEvery), formatDuration(k.PublishAhead))
	}
	switch {
	case k.EncryptionKey == redacted:
		v.add("keys.encryption_key", "holds the %s placeholder of redacted output: set the real key", redacted)
	case k.EncryptionKey != "":
		if _, err := DecodeEncryptionKey(k.EncryptionKey); err != nil {
			v.add("keys.encryption_key", "%v", err)
		}
	}
	for i, p := range k.PreviousEncryptionKeys {
		key := fmt.Sprintf("keys.previous_encryption_keys[%d]", i)
		if p == redacted {
			v.add(key, "holds the %s placeholder of redacted output: set the real key", redacted)
		} else if _, err := DecodeEncryptionKey(p); err != nil {
			v.add(key, "%v", err)
		}
	}
	v.oneOf("keys.signer", k.Signer, "go", "openssl")
}

func (v *validator) passwords(p Passwords) {
	l := p.Lockout
	if l.MaxFailures <= 0 {
		v.add("passwords.lockout.max_failures", "must be greater than 0, got %d", l.MaxFailures)
	}
	v.positive("passwords.lockout.window", l.Window)
	if l.MaxFailuresPerIP <= 0 {
		v.add("passwords.lockout.max_failures_per_ip", "must be greater than 0, got %d", l.MaxFailuresPerIP)
	}
	a := p.Argon2
	if a.Iterations < 1 {
		v.add("passwords.argon2.iterations", "must be at least 1")
	}
	if a.Parallelism < 1 {
		v.add("passwords.argon2.parallelism", "must be at least 1")
	}
	if a.Memory < 8*uint32(a.Parallelism) {
		v.add("passwords.argon2.memory", "must be at least 8 KiB per lane (%d KiB for parallelism %d), got %d",
			8*uint32(a.Parallelism), a.Parallelism, a.Memory)
	}
	if p.MaxConcurrent < 0 {
		v.add("passwords.max_concurrent", "must not be negative, got %d", p.MaxConcurrent)
	}
}

var knownGrants = []string{GrantAuthorizationCode, GrantPassword, GrantRefreshToken, GrantClientCredentials}

func (v *validator) clients(clients []Client) {
	first := make(map[string]int)
	for i, cl := range clients {
		name := itemKey("clients", i, cl.ID)
		if cl.ID == "" {
			v.add(name+".id", "must not be empty")
		} else if j, dup := first[cl.ID]; dup {
			v.add(name+".id", "duplicate of clients[%d]", j)
		} else {
			first[cl.ID] = i
		}
		v.client(name, cl)
	}
}

func (v *validator) client(name string, cl Client) {
	if len(cl.Grants) == 0 {
		v.add(name+".grants", "must list at least one of %s", strings.Join(knownGrants, ", "))
	}
	for _, g := range cl.Grants {
		if !slices.Contains(knownGrants, g) {
			v.add(name+".grants", "unknown grant %q (want %s)", g, strings.Join(knownGrants, ", "))
		}
	}
	hashes := cl.SecretHashList()
	switch {
	case cl.Public && len(hashes) > 0:
		v.add(name+".secret_hash", "must be empty for a public client, and secret_hashes too (or set public: false)")
	case !cl.Public && len(hashes) == 0:
		v.add(name+".secret_hash", "must be set (or secret_hashes) for a confidential client: create one with `authserver clients new-secret`")
	}
	v.secretHash(name+".secret_hash", cl.SecretHash)
	for i, h := range cl.SecretHashes {
		key := fmt.Sprintf("%s.secret_hashes[%d]", name, i)
		if h == "" {
			v.add(key, "must not be empty")
		}
		v.secretHash(key, h)
	}
	if cl.Public && cl.Allows(GrantClientCredentials) {
		v.add(name+".grants", "a public client cannot use client_credentials: it has no secret")
	}
	if cl.Public && cl.Introspect {
		v.add(name+".introspect", "a public client cannot introspect: it has no secret")
	}
	for i, s := range cl.Scopes {
		if !validScope(s) {
			v.add(fmt.Sprintf("%s.scopes[%d]", name, i), "%q is not a scope: want a non-empty word of printable ASCII without spaces, quotes or backslashes", s)
		}
	}
	v.audience(name+".audience", cl.Audience, false)
	if cl.TokenProfile != "" && cl.TokenProfile != TokenProfileSimpleJWT {
		v.add(name+".token_profile", "unknown profile %q (want %s, or nothing)", cl.TokenProfile, TokenProfileSimpleJWT)
	}
	v.redirectURIs(name, cl)
	for i, o := range cl.AllowedOrigins {
		if msg := originProblem(o); msg != "" {
			v.add(fmt.Sprintf("%s.allowed_origins[%d]", name, i), "%q %s", o, msg)
		}
	}
}

func (v *validator) secretHash(key, h string) {
	switch {
	case h == redacted:
		v.add(key, "holds the %s placeholder of redacted output: set the real hash", redacted)
	case h != "":
		if _, err := clientsecret.Decode(h); err != nil {
			v.add(key, "%v", err)
		}
	}
}

// validScope reports whether s is a scope-token of RFC 6749 section 3.3.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for _, b := range []byte(s) {
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// encodings are the base64 forms DecodeEncryptionKey accepts.
var encodings = []*base64.Encoding{
	base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
}

// DecodeEncryptionKey decodes keys.encryption_key: base64, standard or
// URL alphabet, padded or not, of exactly 32 bytes. Its errors never
// contain the key.
func DecodeEncryptionKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("encryption key is empty")
	}
	for _, enc := range encodings {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("encryption key is %d bytes, want 32 (create one with `openssl rand -base64 32`)", len(key))
		}
		return key, nil
	}
	return nil, errors.New("encryption key is not base64 (create one with `openssl rand -base64 32`)")
}
