package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/adminapi"
	"github.com/oauthkit/authserver/authserver/clientsecret"
	"github.com/oauthkit/authserver/authserver/password"
	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/embedded"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redisstoretest"
	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

const (
	adminSecret = "admin-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	alicePass   = "alice-password"
)

var kek = []byte("0123456789abcdef0123456789abcdef")

// env is one authserver with both APIs mounted, over a real store,
// reached over real HTTP through a client that validates every request
// and answer of the APIs against docs/openapi.yaml.
type env struct {
	t      *testing.T
	url    string
	client *http.Client
	store  store.Store
	keys   *keys.Manager
	srv    *authserver.Server
	audit  *testutil.LockedBuffer
	alice  string // alice's user id
}

// stores runs test once per store: the embedded SQLite file and the real
// Redis (skipped without one unless AUTHSERVER_REQUIRE_REDIS=1).
func stores(t *testing.T, test func(t *testing.T, e *env)) {
	t.Run("embedded", func(t *testing.T) {
		st, err := embedded.Open(filepath.Join(t.TempDir(), "authserver.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		test(t, newEnv(t, st))
	})
	t.Run("redis", func(t *testing.T) {
		test(t, newEnv(t, redisstoretest.Open(t)))
	})
}

func mustHash(t testing.TB, secret string) string {
	h, err := clientsecret.Hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newEnv(t *testing.T, st store.Store) *env {
	t.Helper()
	km := keystest.NewManager(t, st, kek, keys.Options{RSABits: 2048, Logger: quiet})
	var handler atomic.Pointer[http.Handler]
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)
	hasher, err := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1}, 4)
	if err != nil {
		t.Fatal(err)
	}
	refreshKey, err := authserver.DeriveRefreshKey(kek)
	if err != nil {
		t.Fatal(err)
	}
	audit := &testutil.LockedBuffer{}
	log := slog.New(slog.NewJSONHandler(audit, nil))
	all := []string{adminapi.ScopeUsersRead, adminapi.ScopeUsersWrite, adminapi.ScopeSessions, adminapi.ScopeKeys}
	cc := []string{"client_credentials"}
	srv, err := authserver.New(authserver.Options{
		Issuer:            hs.URL,
		AccessTTL:         15 * time.Minute,
		RefreshIdleTTL:    24 * time.Hour,
		RefreshMaxTTL:     72 * time.Hour,
		RefreshReuseGrace: 10 * time.Second,
		Audience:          []string{"api"},
		Clients: []authserver.Client{
			{ID: "admin", SecretHash: mustHash(t, adminSecret), Grants: cc, Scopes: all, Audience: []string{hs.URL}},
			{ID: "reader", SecretHash: mustHash(t, adminSecret), Grants: cc, Scopes: []string{adminapi.ScopeUsersRead}, Audience: []string{hs.URL}},
			{ID: "elsewhere", SecretHash: mustHash(t, adminSecret), Grants: cc, Scopes: all, Audience: []string{"api"}},
			// An app whose user tokens carry admin scopes too: they must
			// still never reach the admin API.
			{ID: "app", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: append([]string{"account", "profile"}, all...), Audience: []string{"api", hs.URL}},
			{ID: "web", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"account"}, Audience: []string{hs.URL}},
		},
		Lockout:    authserver.Lockout{MaxFailures: 3, MaxFailuresPerIP: 100, Window: 15 * time.Minute},
		Store:      st,
		Signer:     km,
		Hasher:     hasher,
		RefreshKey: refreshKey,
		Logger:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := adminapi.New(adminapi.Options{
		Issuer: hs.URL,
		CheckToken: func(token []byte) ([]byte, error) {
			p, _, err := km.Verify(token)
			return p, err
		},
		Users: srv.Users(), Keys: km, Accounts: srv, Store: st, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount("/admin/v1/", api)
	srv.Mount("/account/v1/", api)
	h := srv.Handler()
	handler.Store(&h)
	e := &env{t: t, url: hs.URL, store: st, keys: km, srv: srv, audit: audit}
	e.client = &http.Client{Transport: &validating{t: t, next: hs.Client().Transport}}
	u, err := srv.Users().Add(context.Background(), "alice", alicePass, map[string]string{"email": "alice@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	e.alice = u.ID
	return e
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r response) str(k string) string {
	s, _ := r.body[k].(string)
	return s
}

// problemType returns the kind of a problem answer ("" if it is none).
func (r response) problemType() string {
	if r.header.Get("Content-Type") != "application/problem+json" {
		return ""
	}
	return strings.TrimPrefix(r.str("type"), adminapi.ProblemBase)
}

// req describes a request to the APIs.
type req struct {
	method, path, token string
	body                any               // JSON-encoded unless a string
	header              map[string]string // extra headers
}

func (e *env) do(t testing.TB, rq req) response {
	t.Helper()
	var body io.Reader
	switch b := rq.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	r, err := http.NewRequest(rq.method, e.url+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if rq.token != "" {
		r.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	resp, err := e.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &out.body)
	return out
}

// want fails t unless r has status and, for a problem, kind.
func (r response) want(t testing.TB, status int, kind string) response {
	t.Helper()
	if r.status != status || r.problemType() != kind {
		t.Fatalf("got %d %q, want %d %q: %s", r.status, r.problemType(), status, kind, r.raw)
	}
	return r
}

// token gets an access token from the token endpoint.
func (e *env) token(t testing.TB, form url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(e.url+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v", resp.StatusCode, body)
	}
	return body
}

// clientToken returns a client_credentials token of client with scope
// ("" for all of its scopes).
func (e *env) clientToken(t testing.TB, client, scope string) string {
	t.Helper()
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {adminSecret}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return e.token(t, f)["access_token"].(string)
}

// login returns the token response of a password login of name through
// the public client.
func (e *env) login(t testing.TB, client, name, pw, scope string) map[string]any {
	t.Helper()
	f := url.Values{"grant_type": {"password"}, "client_id": {client}, "username": {name}, "password": {pw}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return e.token(t, f)
}

// userToken returns an access token of alice through the app client.
func (e *env) userToken(t testing.TB) string {
	t.Helper()
	return e.login(t, "app", "alice", alicePass, "")["access_token"].(string)
}

// createUser creates a user over the API and returns its id.
func (e *env) createUser(t testing.TB, admin, name string) string {
	t.Helper()
	r := e.do(t, req{method: "POST", path: "/admin/v1/users", token: admin, body: map[string]any{"name": name, "password": "password-" + name}})
	r.want(t, http.StatusCreated, "")
	return r.str("id")
}

// path formats a path with escaped segments.
func path(format string, segs ...string) string {
	args := make([]any, len(segs))
	for i, s := range segs {
		args[i] = url.PathEscape(s)
	}
	return fmt.Sprintf(format, args...)
}

// etag reads the user of id and returns its ETag.
func (e *env) etag(t testing.TB, admin, id string) string {
	t.Helper()
	r := e.do(t, req{method: "GET", path: path("/admin/v1/users/%s", id), token: admin}).want(t, http.StatusOK, "")
	if r.header.Get("ETag") == "" {
		t.Fatalf("user %s answered without an ETag", id)
	}
	return r.header.Get("ETag")
}
