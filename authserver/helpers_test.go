package authserver_test

import (
	"context"
	"encoding/json"
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
	"github.com/oauthkit/authserver/authserver/clientsecret"
	"github.com/oauthkit/authserver/authserver/password"
	"github.com/oauthkit/authserver/authserver/store/embedded"
	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

// Secrets of the confidential test clients.
const (
	svcSecret = "svc-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	webSecret = "web-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	alicePass = "alice-password"
)

// env is one authserver over a real SQLite file, reached over real HTTP.
type env struct {
	t     *testing.T
	clock *testutil.Clock // shared by the server, its store calls and its key manager
	srv   *authserver.Server
	http  *httptest.Server
	keys  *keys.Manager
	store *embedded.Store
	alice string // alice's user id
}

func mustHash(t testing.TB, secret string) string {
	h, err := clientsecret.Hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sharedKEK avoids generating a key-encryption key per test.
var sharedKEK = []byte("0123456789abcdef0123456789abcdef")

func newEnv(t testing.TB, mutate func(*authserver.Options)) *env {
	t.Helper()
	c := testutil.NewClock(time.Now().Truncate(time.Second))
	st, err := embedded.Open(filepath.Join(t.TempDir(), "authserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	km := keystest.NewManager(t, st, sharedKEK, keys.Options{Now: c.Now, AccessTTL: 15 * time.Minute, Logger: quietLog})
	// The server is reachable at its issuer URL, so that a verifier can
	// discover it: listen first, then build the server for that URL.
	var handler atomic.Pointer[http.Handler]
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)
	hasher, err := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1}, 4)
	if err != nil {
		t.Fatal(err)
	}
	refreshKey, err := authserver.DeriveRefreshKey(sharedKEK)
	if err != nil {
		t.Fatal(err)
	}
	opts := authserver.Options{
		Issuer:            hs.URL,
		AccessTTL:         15 * time.Minute,
		RefreshIdleTTL:    24 * time.Hour,
		RefreshMaxTTL:     72 * time.Hour,
		RefreshReuseGrace: 10 * time.Second,
		Audience:          []string{"api"},
		Clients: []authserver.Client{
			{ID: "app", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"profile", "orders:read"}},
			{ID: "web", SecretHash: mustHash(t, webSecret), Grants: []string{"password", "refresh_token"}, Scopes: []string{"profile"}, Audience: []string{"web-api"}},
			{ID: "svc", SecretHash: mustHash(t, svcSecret), Grants: []string{"client_credentials"}, Scopes: []string{"billing", "reports"}, Introspect: true},
		},
		Lockout:    authserver.Lockout{MaxFailures: 5, MaxFailuresPerIP: 100, Window: 15 * time.Minute},
		Store:      st,
		Signer:     km,
		Hasher:     hasher,
		RefreshKey: refreshKey,
		Now:        c.Now,
		Logger:     quietLog,
	}
	if mutate != nil {
		mutate(&opts)
	}
	srv, err := authserver.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	handler.Store(&h)
	e := &env{clock: c, srv: srv, http: hs, keys: km, store: st}
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
	}
	u, err := srv.Users().Add(context.Background(), "alice", alicePass, map[string]string{"email": "alice@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	e.alice = u.ID
	return e
}

// response is a decoded HTTP answer.
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

// post sends form values to path; basic, when not empty, is "id:secret".
func (e *env) post(t testing.TB, path string, form url.Values, basic string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.http.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id, secret, ok := strings.Cut(basic, ":"); ok {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return e.do(t, req)
}

func (e *env) do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &r.body)
	return r
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// login returns alice's token response through the public client.
func (e *env) login(t testing.TB) response {
	t.Helper()
	r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "alice", "password", alicePass), "")
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	return r
}

func (e *env) refresh(t testing.TB, token string, extra ...string) response {
	t.Helper()
	return e.post(t, "/oauth2/token", form(append([]string{"grant_type", "refresh_token", "client_id", "app", "refresh_token", token}, extra...)...), "")
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))
