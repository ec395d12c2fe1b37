// Package verify checks OAuth 2.0 JWT access tokens (RFC 9068) in the
// resource servers that receive them, without a call to the issuer per
// request.
//
// A Verifier discovers the issuer's JWKS (RFC 8414 metadata, falling back
// to OpenID Connect discovery), keeps its public keys in memory, refreshes
// them in the background as the JWKS Cache-Control allows, and refetches
// once (rate-limited) when a token names a key it does not know, so that
// key rotation on the issuer needs no restart. Verify checks a token
// following RFC 9068 and the JWT best current practices of RFC 8725, and
// Middleware does the same for net/http handlers, answering as RFC 6750
// describes.
//
// # Key cache
//
// The key set is used for the max-age of its Cache-Control header, bounded
// to between 1 second and 1 hour (5 minutes without one; no-cache and
// no-store count as the floor), and refreshed in the background after three
// quarters of that time, conditionally when the issuer sent an ETag. A
// failed refresh is retried with backoff while the last key set stays in
// use. A token naming an unknown kid triggers one refetch, shared by all
// the tokens that miss meanwhile, and at most one per 5 seconds; so a key
// removed from the JWKS stops verifying within about max-age, and a key
// that signs before it is published is found at once.
//
// Verifying takes no lock: keys, parsed once per fetch, sit in an
// immutable map behind an atomic pointer, and signatures are checked with
// crypto/rsa, crypto/ecdsa and crypto/ed25519 directly.
//
// The package imports nothing else from authserver, so that a microservice
// that only verifies tokens pulls in only this package.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors, one per check. Verify wraps them with detail; test them
// with errors.Is. The detail may quote values from the token and is meant
// for logs, not for the client.
var (
	// ErrMalformed reports a token that is not a compact JWS carrying a JSON
	// object of claims with well-typed registered claims (exp included).
	ErrMalformed = errors.New("malformed token")
	// ErrAlgorithm reports a signature algorithm outside the allowlist, or
	// other than the algorithm of the key that the token names.
	ErrAlgorithm = errors.New("algorithm not allowed")
	// ErrUnknownKey reports a key id that is not in the issuer's key set,
	// even after a refetch.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrSignature reports a signature that does not verify.
	ErrSignature = errors.New("invalid signature")
	// ErrType reports a header typ other than at+jwt (RFC 9068 §2.1).
	ErrType = errors.New("not an access token")
	// ErrIssuer reports an iss claim (or issuer metadata) other than the
	// configured issuer.
	ErrIssuer = errors.New("wrong issuer")
	// ErrAudience reports a token not meant for this service's audience.
	ErrAudience = errors.New("wrong audience")
	// ErrExpired reports a token past its exp (plus leeway).
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid reports a token before its nbf, or issued in the
	// future (iat), beyond the leeway.
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrInsufficientScope reports a valid token lacking a required scope.
	ErrInsufficientScope = errors.New("insufficient scope")
)

// refetchInterval is the least time between two refetches caused by an
// unknown kid: a flood of tokens with made-up key ids costs the issuer at
// most one request per interval and per verifier.
const refetchInterval = 5 * time.Second

// A Verifier checks access tokens of one issuer for one audience. It is
// safe for concurrent use. Close stops its background refresh.
type Verifier struct {
	issuer   string
	jwksURL  string
	audience string // empty: no audience check
	leeway   time.Duration
	algs     map[string]*algorithm
	scopes   []string
	realm    string
	now      func() time.Time
	client   *http.Client
	log      *slog.Logger
	// local checks the signature in place of keys, for NewLocal.
	local func(token []byte) ([]byte, error)

	keys     atomic.Pointer[keySet]
	fetchSeq atomic.Uint64
	// headers maps the header segments of tokens that verified to their
	// decoded form: an issuer uses a handful of distinct headers, and
	// skipping their decoding saves a base64 and a JSON pass per token.
	headers atomic.Pointer[map[string]header]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex // guards the fields below
	closed      bool
	inflight    chan struct{} // closed when the running refetch is done
	lastRefetch time.Time
	refetchErr  error
}

// New returns a Verifier for tokens issued by issuer, which must be the
// exact value of their iss claim (and of the issuer metadata).
//
// Unless WithJWKSURL is given, New reads jwks_uri from the authorization
// server metadata at {issuer}/.well-known/oauth-authorization-server (with
// the RFC 8414 rule for issuers with a path), falling back to
// {issuer}/.well-known/openid-configuration. New then fetches the key set
// and fails if any of this fails or if the set holds no usable key: the
// caller decides whether to retry or to stop. The metadata of an https
// issuer must name an https jwks_uri, and discovery and key set fetches
// follow redirects only within the origin (scheme, host, port) of the URL
// they requested.
//
// WithAudience is required unless WithoutAudienceCheck is given.
//
// ctx bounds discovery, the first fetch and the life of the background
// refresh: once ctx is done (or Close is called) the Verifier still checks
// tokens against the keys it holds, but fetches no more.
func New(ctx context.Context, issuer string, opts ...Option) (*Verifier, error) {
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if err := c.validate(issuer); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	v := &Verifier{
		issuer:   issuer,
		jwksURL:  c.jwksURL,
		audience: c.audience,
		leeway:   c.leeway,
		algs:     make(map[string]*algorithm, len(c.algs)),
		scopes:   slices.Clone(c.scopes),
		realm:    c.realm,
		now:      c.now,
		client:   sameOriginRedirects(c.client),
		log:      c.logger,
	}
	for _, name := range c.algs {
		v.algs[name] = algorithms[name]
	}
	if v.realm == "" {
		v.realm = v.audience
	}
	if v.realm == "" {
		v.realm = issuer
	}
	if v.jwksURL == "" {
		u, err := discover(ctx, v.client, issuer)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		v.jwksURL = u
	}
	set, err := v.refresh(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if !v.anyAllowed(set) {
		return nil, fmt.Errorf("verify: key set at %s holds no key for an allowed algorithm", v.jwksURL)
	}
	v.ctx, v.cancel = context.WithCancel(ctx)
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		v.refreshLoop(set.ttl)
	}()
	return v, nil
}

// anyAllowed reports whether set holds a key that could verify a token:
// without one, the configuration (or the issuer) is wrong.
func (v *Verifier) anyAllowed(set *keySet) bool {
	for _, k := range set.keys {
		if v.algs[k.alg.name] != nil {
			return true
		}
	}
	return false
}

// Close stops the background refresh and waits for any fetch in flight to
// end. The Verifier still checks tokens against the keys it holds, but an
// unknown kid is no longer refetched. Close is idempotent.
func (v *Verifier) Close() error {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	if v.cancel != nil {
		v.cancel()
	}
	v.wg.Wait()
	return nil
}

// JWKSURL returns the URL the key set is fetched from, as discovered or
// configured.
func (v *Verifier) JWKSURL() string { return v.jwksURL }

// Verify checks token and returns its claims. It checks, in order: the
// compact JWS form, the header (alg in the allowlist, typ at+jwt), the key
// named by kid (refetching the key set once if unknown), that alg is the
// key's algorithm, the signature, then the claims: iss, aud, exp (required),
// nbf and iat (with leeway), and the scopes set by WithRequiredScopes.
// The error wraps the sentinel of the first check that failed.
//
// The other claims that RFC 9068 lists (sub, client_id, iat, jti) are
// returned but not required. A token without kid is checked against the
// key published without one, if there is such a key.
//
// ctx bounds only the wait for a refetch of the key set.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	c, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := c.requireScopes(v.scopes); err != nil {
		return nil, err
	}
	return c, nil
}

// verify is Verify without the scope check.
func (v *Verifier) verify(ctx context.Context, token string) (*Claims, error) {
	if v.local != nil {
		return v.verifyLocal(token)
	}
	var known map[string]header
	if p := v.headers.Load(); p != nil {
		known = *p
	}
	t, err := parseCompact(token, known)
	if err != nil {
		return nil, err
	}
	alg := v.algs[t.header.Alg]
	if alg == nil {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, short(t.header.Alg))
	}
	if !isAccessTokenType(t.header.Typ) {
		return nil, fmt.Errorf("%w: typ %q", ErrType, short(t.header.Typ))
	}
	key, err := v.key(ctx, t.header.Kid)
	if err != nil {
		return nil, err
	}
	if key.alg != alg {
		return nil, fmt.Errorf("%w: token alg %s, key %q is for %s", ErrAlgorithm, alg.name, short(key.kid), key.alg.name)
	}
	if !key.verify(t.signingInput, t.signature) {
		return nil, ErrSignature
	}
	c, err := decodeClaims(t.payload)
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(c); err != nil {
		return nil, err
	}
	if _, ok := known[token[:t.headerLen]]; !ok {
		v.rememberHeader(token[:t.headerLen], t.header)
	}
	return c, nil
}

// maxKnownHeaders bounds the header cache. Only headers of tokens that
// verified enter it, so only the issuer can fill it; a full cache starts
// over rather than grow.
const maxKnownHeaders = 32

// rememberHeader adds a header to the cache, copying the map: readers
// never lock. Losing a race to another writer only costs a later retry.
func (v *Verifier) rememberHeader(segment string, h header) {
	old := v.headers.Load()
	n := 1
	if old != nil && len(*old) < maxKnownHeaders {
		n += len(*old)
	}
	m := make(map[string]header, n)
	if n > 1 {
		maps.Copy(m, *old)
	}
	m[strings.Clone(segment)] = h
	v.headers.CompareAndSwap(old, &m)
}

// checkClaims checks the registered claims of a token whose signature
// verified.
func (v *Verifier) checkClaims(c *Claims) error {
	if c.Issuer != v.issuer {
		return fmt.Errorf("%w: %q", ErrIssuer, short(c.Issuer))
	}
	if v.audience != "" && !slices.Contains(c.Audience, v.audience) {
		return fmt.Errorf("%w: %q not in aud", ErrAudience, v.audience)
	}
	if c.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: missing exp claim", ErrMalformed)
	}
	now := v.now()
	if !now.Before(c.ExpiresAt.Add(v.leeway)) {
		return fmt.Errorf("%w: at %s", ErrExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if !c.NotBefore.IsZero() && now.Add(v.leeway).Before(c.NotBefore) {
		return fmt.Errorf("%w: nbf %s", ErrNotYetValid, c.NotBefore.UTC().Format(time.RFC3339))
	}
	if !c.IssuedAt.IsZero() && now.Add(v.leeway).Before(c.IssuedAt) {
		return fmt.Errorf("%w: iat %s is in the future", ErrNotYetValid, c.IssuedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// short bounds a value from a token before it goes into an error message.
func short(s string) string {
	const limit = 64
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
