package verify

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// DefaultLeeway is the clock skew tolerated on exp, nbf and iat when
// WithLeeway is not given. Access tokens live minutes, so half a minute of
// skew between the issuer's clock and ours is generous without extending
// them noticeably.
const DefaultLeeway = 30 * time.Second

// An Option configures New.
type Option func(*config)

type config struct {
	audience   string
	noAudience bool
	leeway     time.Duration
	client     *http.Client
	algs       []string
	now        func() time.Time
	jwksURL    string
	scopes     []string
	realm      string
	logger     *slog.Logger
}

func defaultConfig() config {
	return config{
		leeway: DefaultLeeway,
		algs:   []string{"RS256", "ES256", "EdDSA"},
		now:    time.Now,
		client: defaultHTTPClient(),
		logger: slog.Default(),
	}
}

// defaultHTTPClient bounds every step of a fetch, so that a hung issuer
// cannot hold a refetch (and the requests waiting on it) for long.
func defaultHTTPClient() *http.Client {
	t := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	}
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 10 * time.Second
	t.MaxIdleConnsPerHost = 2
	return &http.Client{Transport: t, Timeout: 15 * time.Second}
}

// WithAudience sets the audience of this service: a token is accepted only
// if its aud claim (a string or an array) contains aud. New requires it
// unless WithoutAudienceCheck is given.
func WithAudience(aud string) Option {
	return func(c *config) { c.audience = aud }
}

// WithoutAudienceCheck accepts tokens whatever their aud. It is meant for
// a service that is the only consumer of its issuer's tokens; otherwise a
// token minted for one service would be accepted by every other.
func WithoutAudienceCheck() Option {
	return func(c *config) { c.noAudience = true }
}

// WithLeeway sets the clock skew tolerated on exp, nbf and iat (default
// DefaultLeeway). It must not be negative.
func WithLeeway(d time.Duration) Option {
	return func(c *config) { c.leeway = d }
}

// WithHTTPClient sets the client used for discovery and key set fetches.
// The default client has dial, TLS, header and overall timeouts. The
// Verifier uses a copy of hc that refuses redirects to another origin
// (hc's CheckRedirect still applies to the others); hc is not modified.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.client = hc }
}

// WithAlgorithms sets the allowed signature algorithms (default RS256,
// ES256, EdDSA). Supported: RS256, RS384, RS512, PS256, PS384, PS512,
// ES256, ES384, ES512, EdDSA. none and the HMAC algorithms are refused:
// a verifier that holds a shared secret can forge tokens.
func WithAlgorithms(algs ...string) Option {
	return func(c *config) { c.algs = append([]string(nil), algs...) }
}

// WithClock sets the clock used for exp, nbf and iat and for the refetch
// rate limit (default time.Now). The background refresh schedule runs on
// real timers.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithJWKSURL sets the JWKS URL and skips metadata discovery.
func WithJWKSURL(u string) Option {
	return func(c *config) { c.jwksURL = u }
}

// WithRequiredScopes sets scopes every token must carry in its scope claim:
// Verify checks them, and they are the default of Middleware.
func WithRequiredScopes(scopes ...string) Option {
	return func(c *config) { c.scopes = append([]string(nil), scopes...) }
}

// WithRealm sets the realm of the WWW-Authenticate challenges that
// Middleware sends (default: the audience, or the issuer without one).
func WithRealm(realm string) Option {
	return func(c *config) { c.realm = realm }
}

// WithLogger sets where failed background refreshes are logged (as
// warnings) and middleware rejections (at debug level). The default is
// slog.Default(); nil discards. Tokens are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// validate checks the configuration; New wraps its error.
func (c *config) validate(issuer string) error {
	var errs []error
	if err := checkHTTPURL(issuer); err != nil {
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	} else if u, _ := url.Parse(issuer); u.RawQuery != "" || u.ForceQuery {
		errs = append(errs, fmt.Errorf("issuer: %q has a query", issuer))
	}
	if c.jwksURL != "" {
		if err := checkHTTPURL(c.jwksURL); err != nil {
			errs = append(errs, fmt.Errorf("jwks url: %w", err))
		}
	}
	if c.audience == "" && !c.noAudience {
		errs = append(errs, errors.New("no audience: use WithAudience, or WithoutAudienceCheck"))
	}
	if c.audience != "" && c.noAudience {
		errs = append(errs, errors.New("both WithAudience and WithoutAudienceCheck given"))
	}
	if c.leeway < 0 {
		errs = append(errs, fmt.Errorf("negative leeway %s", c.leeway))
	}
	if c.client == nil {
		errs = append(errs, errors.New("nil http client"))
	}
	if c.now == nil {
		errs = append(errs, errors.New("nil clock"))
	}
	if c.logger == nil {
		c.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(c.algs) == 0 {
		errs = append(errs, errors.New("no algorithm allowed"))
	}
	for _, a := range c.algs {
		if algorithms[a] == nil {
			errs = append(errs, fmt.Errorf("unsupported algorithm %q", a))
		}
	}
	for _, s := range c.scopes {
		if !validScopeToken(s) {
			errs = append(errs, fmt.Errorf("invalid scope %q", s))
		}
	}
	return errors.Join(errs...)
}

// checkHTTPURL accepts an absolute http or https URL without fragment.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.Fragment != "" {
		return fmt.Errorf("%q has a fragment", s)
	}
	return nil
}

// validScopeToken reports whether s is a scope-token of RFC 6749 §3.3,
// which is also safe inside a quoted WWW-Authenticate parameter.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}
