// Package authserver is the HTTP face of the token service: routing,
// request decoding (form and JSON), client authentication, the
// authorization code flow with PKCE and its login page, the password,
// refresh_token and client_credentials grants, revocation, introspection,
// discovery, CORS and health, with RFC 6749 error mapping. State lives behind
// the store.Store interface; signing keys behind the Signer interface
// (package keys).
package authserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oauthkit/authserver/authserver/password"
	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/keys"
)

// Signer signs and checks access tokens and publishes the JWKS; package
// keys' Manager is the implementation.
type Signer interface {
	// Sign returns a compact JWS (typ at+jwt) over the claims JSON payload.
	Sign(payload []byte) (string, error)
	// Verify checks a token this server signed and returns its payload.
	Verify(token []byte) (payload []byte, kid string, err error)
	// Ready reports whether a signing key is loaded.
	Ready() bool
	// ServeJWKS serves the public key set.
	ServeJWKS(w http.ResponseWriter, r *http.Request)
}

// Lockout is the brute-force policy of the password grant.
type Lockout struct {
	MaxFailures      int // per user name within Window
	MaxFailuresPerIP int // per client IP within Window
	Window           time.Duration
}

// Options configure a Server. Issuer, Store, Signer, Hasher and RefreshKey
// are required.
type Options struct {
	Issuer            string
	AccessTTL         time.Duration
	RefreshIdleTTL    time.Duration
	RefreshMaxTTL     time.Duration
	RefreshReuseGrace time.Duration
	Audience          []string // for clients without their own
	Clients           []Client
	Lockout           Lockout
	Login             LoginOptions // the login page of the authorization code flow
	// TrustedProxies are the addresses of our own reverse proxies, whose
	// X-Forwarded-For entries name the client for the per-IP lockout.
	TrustedProxies []netip.Prefix

	Store      store.Store
	Signer     Signer
	Hasher     *password.Hasher
	RefreshKey []byte // from DeriveRefreshKey
	// PreviousRefreshKeys are derived from keys.previous_encryption_keys:
	// refresh tokens under them are still accepted, and each refresh
	// issues its successor under RefreshKey.
	PreviousRefreshKeys [][]byte
	// RefreshKeyIDs are the ids (keys.KEKID) of the keys RefreshKey and
	// PreviousRefreshKeys derive from, in that order: the label of
	// authserver_refresh_tokens_presented_total. Optional.
	RefreshKeyIDs []string

	// Mounts are more handlers on the main listener, by ServeMux pattern
	// (the admin and account APIs at "/admin/v1/" and "/account/v1/"),
	// instrumented under the pattern's name.
	Mounts map[string]http.Handler

	// StoreTimeout bounds every store call of a request (default 2s).
	StoreTimeout time.Duration
	// PasswordWait bounds how long a login waits for a free hashing slot
	// of Hasher before it is answered 503 with Retry-After (default 5s).
	PasswordWait time.Duration
	Now          func() time.Time // default time.Now
	Logger       *slog.Logger     // default slog.Default()
}

// Server serves the OAuth2 endpoints.
type Server struct {
	opts     Options
	clients  *clientSet // replaced as a whole by SetClients
	refresh  refreshCodec
	log      *slog.Logger
	audit    *slog.Logger
	now      func() time.Time
	metadata atomic.Pointer[[]byte] // rebuilt by SetClients
	users    *Users
	metrics  *metrics

	sessionKeys [][]byte // MACs of login session and CSRF cookies: the first signs, any verifies
	pages       *pages
	basePath    string // of the issuer URL
}

// New checks opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Issuer == "" || opts.Store == nil || opts.Signer == nil || opts.Hasher == nil || len(opts.RefreshKey) < 32 {
		return nil, fmt.Errorf("new server: issuer, store, signer, hasher and a 32-byte refresh key are required")
	}
	if opts.AccessTTL <= 0 || opts.RefreshIdleTTL <= 0 || opts.RefreshMaxTTL <= 0 || opts.RefreshReuseGrace < 0 {
		return nil, fmt.Errorf("new server: token lifetimes must be positive")
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 2 * time.Second
	}
	if opts.PasswordWait <= 0 {
		opts.PasswordWait = defaultPasswordWait
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Login.SessionTTL <= 0 {
		opts.Login.SessionTTL = 12 * time.Hour
	}
	if opts.Login.ProductName == "" {
		opts.Login.ProductName = "authserver"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := newMetrics(keyAge(opts.Signer, opts.Now))
	audit := opts.Logger.With("log", "audit")
	clients, err := newClientSet(opts.Clients, m, audit)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	pg, err := loadPages(opts.Login.TemplatesDir)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	sessionKeys, err := deriveSessionKeys(opts.RefreshKey, opts.PreviousRefreshKeys...)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	opts.Store = observedStore{Store: opts.Store, m: m}
	s := &Server{
		opts:    opts,
		clients: clients,
		refresh: newRefreshCodec(m, opts.RefreshKeyIDs, opts.RefreshKey, opts.PreviousRefreshKeys...),
		log:     opts.Logger,
		audit:   audit,
		now:     opts.Now,
		users:   NewUsers(opts.Store, opts.Hasher, opts.Now),
		metrics: m,

		sessionKeys: sessionKeys,
		pages:       pg,
		basePath:    basePathOf(opts.Issuer),
	}
	s.metadata.Store(s.buildMetadata())
	return s, nil
}

// Handler returns the HTTP handler of every endpoint but /metrics, which
// MetricsHandler serves so that the caller can put it on an admin
// listener.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/token", s.instrument("token", s.cors("POST", s.post(s.handleToken))))
	mux.HandleFunc("/oauth2/revoke", s.instrument("revoke", s.cors("POST", s.post(s.handleRevoke))))
	mux.HandleFunc("GET /oauth2/authorize", s.instrument("authorize", s.handleAuthorize))
	mux.HandleFunc("POST /oauth2/authorize", s.instrument("authorize", s.handleAuthorizeForm))
	mux.HandleFunc("GET /oauth2/logout", s.instrument("logout", s.handleLogoutPage))
	mux.HandleFunc("POST /oauth2/logout", s.instrument("logout", s.handleLogout))
	mux.HandleFunc("GET /oauth2/static/login.css", s.handleStylesheet)
	mux.HandleFunc("/oauth2/introspect", s.instrument("introspect", s.post(s.handleIntrospect)))
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.instrument("metadata", s.cors("GET", s.handleMetadata)))
	mux.HandleFunc("GET /.well-known/openid-configuration", s.instrument("metadata", s.cors("GET", s.handleMetadata)))
	mux.HandleFunc("GET /.well-known/jwks.json", s.instrument("jwks", s.cors("GET", s.opts.Signer.ServeJWKS)))
	mux.HandleFunc("OPTIONS /.well-known/jwks.json", s.cors("GET", methodNotAllowed("GET")))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	for pattern, h := range s.opts.Mounts {
		mux.HandleFunc(pattern, s.instrument(strings.Trim(pattern, "/"), h.ServeHTTP))
	}
	return s.recoverPanics(mux)
}

// post wraps an OAuth2 endpoint: POST only, and a JSON error for anything
// else.
func (s *Server) post(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			e := invalidRequest("method must be POST")
			e.Status = http.StatusMethodNotAllowed
			s.writeError(w, r, e)
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.StoreTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.opts.Store.Ping(ctx); err != nil {
		s.log.Warn("not ready: store unreachable", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("store unreachable\n"))
		return
	}
	if !s.opts.Signer.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("no active signing key\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

func (s *Server) buildMetadata() *[]byte {
	base := strings.TrimSuffix(s.opts.Issuer, "/")
	scopes := []string{}
	for _, c := range s.clients.list() {
		for _, sc := range c.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	authMethods := []string{"client_secret_basic", "client_secret_post", "none"}
	doc, _ := json.MarshalIndent(map[string]any{
		"issuer":                           s.opts.Issuer,
		"token_endpoint":                   base + "/oauth2/token",
		"jwks_uri":                         base + "/.well-known/jwks.json",
		"revocation_endpoint":              base + "/oauth2/revoke",
		"introspection_endpoint":           base + "/oauth2/introspect",
		"authorization_endpoint":           base + "/oauth2/authorize",
		"end_session_endpoint":             base + "/oauth2/logout",
		"grant_types_supported":            []string{GrantAuthorizationCode, GrantPassword, GrantRefreshToken, GrantClientCredentials},
		"code_challenge_methods_supported": []string{"S256"},
		"authorization_response_iss_parameter_supported":   true,
		"response_modes_supported":                         []string{"query"},
		"token_endpoint_auth_methods_supported":            authMethods,
		"revocation_endpoint_auth_methods_supported":       authMethods,
		"introspection_endpoint_auth_methods_supported":    authMethods[:2],
		"scopes_supported":                                 scopes,
		"response_types_supported":                         []string{"code"},
		"token_endpoint_auth_signing_alg_values_supported": []string{},
	}, "", "  ")
	doc = append(doc, '\n')
	return &doc
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(*s.metadata.Load())
}

// storeCtx bounds one store call.
func (s *Server) storeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.opts.StoreTimeout)
}

// Users returns the user administration of this server's store.
func (s *Server) Users() *Users { return s.users }

// keyAge reports the age of the active signing key, when the signer can
// tell (keys.Manager can), for the signing-key age gauge.
func keyAge(signer Signer, now func() time.Time) func() float64 {
	lister, ok := signer.(interface{ Keys() []keys.KeyInfo })
	if !ok {
		return func() float64 { return 0 }
	}
	return func() float64 {
		for _, k := range lister.Keys() {
			if k.State == keys.Active {
				since := k.Activates
				if since.IsZero() {
					since = k.Created
				}
				return now().Sub(since).Seconds()
			}
		}
		return 0
	}
}
