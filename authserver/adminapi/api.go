// Package adminapi serves authserver's admin API (/admin/v1/), with which
// an app provisions and manages users, sessions and signing keys, and its
// account API (/account/v1/), with which a signed-in user reads its
// profile, changes its password and manages its own sessions.
//
// Both take access tokens that this authserver issued, checked in process
// with the verify package's rules (no HTTP round trip to itself): the
// admin API a client_credentials token whose audience is the issuer and
// whose scopes name what it may do (ScopeUsersRead and the others), the
// account API a user's own token with the scope ScopeAccount. Both call
// the service layer that the CLI calls (authserver.Users, keys.Manager),
// so every rule holds in all three. Errors are RFC 9457 problem details;
// request bodies are JSON, strictly decoded and size-limited; a POST
// with an Idempotency-Key is answered once and replayed to its retries;
// every user write requires If-Match, which the store checks in the
// step that makes the change. docs/openapi.yaml describes both
// APIs, and docs/admin-api.md how to use them.
package adminapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/verify"
)

// The scopes of the admin API, one per kind of route, and of the account
// API.
const (
	ScopeUsersRead  = "authserver:users.read"
	ScopeUsersWrite = "authserver:users.write"
	ScopeSessions   = "authserver:sessions"
	ScopeKeys       = "authserver:keys"
	ScopeAccount    = "account"
)

// MaxBodyBytes bounds a request body, as the token endpoint's are bounded.
const MaxBodyBytes = 64 << 10

// IdempotencyTTL is how long the answer to a request with an
// Idempotency-Key is kept for its retries.
const IdempotencyTTL = 24 * time.Hour

// KeyAdmin is the key lifecycle that the admin API drives; keys.Manager
// implements it, with the same rules for the CLI.
type KeyAdmin interface {
	Keys() []keys.KeyInfo
	Rotate(ctx context.Context, immediate bool) (keys.Key, error)
	Retire(ctx context.Context, kid string) error
	Revoke(ctx context.Context, kid string) error
}

// Accounts changes a signed-in user's own password; authserver.Server
// implements it.
type Accounts interface {
	ChangeOwnPassword(r *http.Request, clientID, userID, current, next string, scope []string) (authserver.PasswordChange, error)
}

// Options configure an API. Every field but Now and Logger is required.
type Options struct {
	Issuer string // the iss of accepted tokens, and the audience they must name
	// CheckToken verifies a token's signature and header against the
	// issuer's own keys and returns its payload (keys.Manager.Verify).
	CheckToken func(token []byte) (payload []byte, err error)
	Users      *authserver.Users
	Keys       KeyAdmin
	Accounts   Accounts
	// Store holds revoked token ids and idempotency records.
	Store interface {
		store.RevokedTokens
		store.IdempotencyKeys
	}
	Now    func() time.Time
	Logger *slog.Logger
	// StoreTimeout bounds the store calls of a request (default 5s).
	StoreTimeout time.Duration
}

// API serves the admin and account APIs.
type API struct {
	opts     Options
	verifier *verify.Verifier
	log      *slog.Logger
	audit    *slog.Logger
	mux      *http.ServeMux
}

// New checks opts and returns an API.
func New(opts Options) (*API, error) {
	if opts.Issuer == "" || opts.CheckToken == nil || opts.Users == nil || opts.Keys == nil || opts.Accounts == nil || opts.Store == nil {
		return nil, errors.New("new admin api: issuer, token check, users, keys, accounts and store are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 5 * time.Second
	}
	v, err := verify.NewLocal(opts.Issuer, func(token []byte) ([]byte, error) {
		return opts.CheckToken(token)
	}, verify.WithAudience(opts.Issuer), verify.WithClock(opts.Now), verify.WithLogger(opts.Logger))
	if err != nil {
		return nil, fmt.Errorf("new admin api: %w", err)
	}
	a := &API{opts: opts, verifier: v, log: opts.Logger, audit: opts.Logger.With("log", "audit")}
	a.mux = http.NewServeMux()
	for _, rt := range a.routes() {
		a.mux.HandleFunc(rt.Method+" "+rt.Path, a.serve(rt))
	}
	doc, err := openAPIJSON()
	if err != nil {
		return nil, fmt.Errorf("new admin api: %w", err)
	}
	a.mux.HandleFunc("GET /admin/v1/openapi.json", a.serveOpenAPI(doc))
	a.mux.HandleFunc("/admin/v1/", a.notFound)
	a.mux.HandleFunc("/account/v1/", a.notFound)
	return a, nil
}

// Handler returns the handler of both APIs; mount it at "/admin/v1/" and
// "/account/v1/".
func (a *API) Handler() http.Handler { return a.mux }

// ServeHTTP serves both APIs.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	// ServeMux answers a known path with the wrong method with its own
	// plain-text 405; asking it which pattern matches tells the two apart.
	r2 := r.Clone(r.Context())
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		r2.Method = m
		if _, p := a.mux.Handler(r2); p != "" && !strings.HasSuffix(p, "/v1/") {
			writeProblem(w, r, a.log, problem("method-not-allowed", "see docs/openapi.yaml for the methods of this path"))
			return
		}
	}
	writeProblem(w, r, a.log, problem("not-found", "no such route"))
}

// route is one operation of the APIs.
type route struct {
	Method string
	Path   string // a ServeMux pattern, which is also the OpenAPI path
	Scope  string // required; ScopeAccount marks the account API
	handle func(w http.ResponseWriter, r *http.Request, c *caller) error
}

// Routes lists every operation of both APIs as "METHOD /path", for the
// test that holds them to docs/openapi.yaml.
func Routes() []string {
	var out []string
	for _, rt := range (&API{}).routes() {
		out = append(out, rt.Method+" "+rt.Path)
	}
	return append(out, "GET /admin/v1/openapi.json")
}

func (a *API) routes() []route {
	return []route{
		{"POST", "/admin/v1/users", ScopeUsersWrite, a.createUser},
		{"GET", "/admin/v1/users", ScopeUsersRead, a.listUsers},
		{"GET", "/admin/v1/users/{id}", ScopeUsersRead, a.getUser},
		{"GET", "/admin/v1/usernames/{name}", ScopeUsersRead, a.getUserByName},
		{"DELETE", "/admin/v1/users/{id}", ScopeUsersWrite, a.deleteUser},
		{"PUT", "/admin/v1/users/{id}/claims", ScopeUsersWrite, a.updateClaims},
		{"PUT", "/admin/v1/users/{id}/password", ScopeUsersWrite, a.setPassword},
		{"POST", "/admin/v1/users/{id}/disable", ScopeUsersWrite, a.disable},
		{"POST", "/admin/v1/users/{id}/enable", ScopeUsersWrite, a.enable},
		{"POST", "/admin/v1/users/{id}/unlock", ScopeUsersWrite, a.unlock},
		{"GET", "/admin/v1/users/{id}/sessions", ScopeSessions, a.listSessions},
		{"DELETE", "/admin/v1/users/{id}/sessions", ScopeSessions, a.revokeSessions},
		{"DELETE", "/admin/v1/users/{id}/sessions/{family}", ScopeSessions, a.revokeSession},
		{"GET", "/admin/v1/keys", ScopeKeys, a.listKeys},
		{"POST", "/admin/v1/keys/rotate", ScopeKeys, a.rotateKey},
		{"POST", "/admin/v1/keys/{kid}/retire", ScopeKeys, a.retireKey},
		{"POST", "/admin/v1/keys/{kid}/revoke", ScopeKeys, a.revokeKey},
		{"GET", "/account/v1/profile", ScopeAccount, a.profile},
		{"POST", "/account/v1/password", ScopeAccount, a.changePassword},
		{"GET", "/account/v1/sessions", ScopeAccount, a.ownSessions},
		{"DELETE", "/account/v1/sessions", ScopeAccount, a.logoutAll},
		{"DELETE", "/account/v1/sessions/{family}", ScopeAccount, a.logoutOne},
	}
}

// serve authenticates the caller of rt, applies Idempotency-Key to a
// POST, runs the handler and answers its error as a problem.
func (a *API) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := a.authenticate(r, rt.Scope)
		if err == nil {
			// The password change's answer holds tokens, which the store
			// must never keep: it takes no Idempotency-Key.
			if rt.Method == http.MethodPost && rt.Path != "/account/v1/password" && r.Header.Get("Idempotency-Key") != "" {
				err = a.idempotent(w, r, c, rt.handle)
			} else {
				err = rt.handle(w, r, c)
			}
		}
		if err != nil {
			writeProblem(w, r, a.log, err)
		}
	}
}

// storeCtx bounds the store calls of one request.
func (a *API) storeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.opts.StoreTimeout)
}
