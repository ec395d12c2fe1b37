package keys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

func TestServeJWKS(t *testing.T) {
	m := newManager(t, nil, nil, keys.Options{Algorithm: keys.EdDSA})
	srv := httptest.NewServer(http.HandlerFunc(m.ServeJWKS))
	defer srv.Close()
	doc, etag := m.JWKS()

	for _, tc := range []struct {
		name        string
		method      string
		ifNoneMatch string
		wantStatus  int
		wantBody    []byte
	}{
		{"get", http.MethodGet, "", http.StatusOK, doc},
		{"head", http.MethodHead, "", http.StatusOK, nil},
		{"if-none-match-same", http.MethodGet, etag, http.StatusNotModified, nil},
		{"if-none-match-weak", http.MethodGet, "W/" + etag, http.StatusNotModified, nil},
		{"if-none-match-list", http.MethodGet, `"old", ` + etag, http.StatusNotModified, nil},
		{"if-none-match-star", http.MethodGet, "*", http.StatusNotModified, nil},
		{"if-none-match-other", http.MethodGet, `"old"`, http.StatusOK, doc},
		{"head-if-none-match", http.MethodHead, etag, http.StatusNotModified, nil},
		{"post", http.MethodPost, "", http.StatusMethodNotAllowed, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL, nil)
			if tc.ifNoneMatch != "" {
				req.Header.Set("If-None-Match", tc.ifNoneMatch)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus == http.StatusMethodNotAllowed {
				if resp.Header.Get("Allow") != "GET, HEAD" {
					t.Errorf("Allow %q", resp.Header.Get("Allow"))
				}
				return
			}
			if tc.wantBody != nil && !bytes.Equal(body, tc.wantBody) {
				t.Errorf("body (-got +want):\n- %s\n+ %s", body, tc.wantBody)
			}
			if tc.wantBody == nil && len(body) != 0 {
				t.Errorf("unexpected body %q", body)
			}
			if got := resp.Header.Get("ETag"); got != etag || !strings.HasPrefix(got, `"`) || !strings.HasSuffix(got, `"`) {
				t.Errorf("ETag %q, want %q (strong, quoted)", got, etag)
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=300" {
				t.Errorf("Cache-Control %q", got)
			}
			if tc.wantStatus == http.StatusOK {
				if got := resp.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type %q", got)
				}
				if tc.method == http.MethodHead && resp.ContentLength != int64(len(doc)) {
					t.Errorf("HEAD Content-Length %d, want %d", resp.ContentLength, len(doc))
				}
			}
		})
	}
}

func TestJWKSMaxAge(t *testing.T) {
	for _, tc := range []struct {
		name         string
		publishAhead time.Duration
		want         string
	}{
		{"default-10m", 0, "public, max-age=300"},
		{"capped-at-300", time.Hour, "public, max-age=300"},
		{"half-of-2m", 2 * time.Minute, "public, max-age=60"},
		{"half-of-90s", 90 * time.Second, "public, max-age=45"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, nil, nil, keys.Options{Algorithm: keys.EdDSA, PublishAhead: tc.publishAhead})
			rec := httptest.NewRecorder()
			m.ServeJWKS(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
			if got := rec.Header().Get("Cache-Control"); got != tc.want {
				t.Fatalf("Cache-Control %q, want %q", got, tc.want)
			}
		})
	}
}

func TestServeJWKSBeforeInit(t *testing.T) {
	m := keys.NewManager(&keystest.Store{}, newSealer(t), keys.Options{})
	rec := httptest.NewRecorder()
	m.ServeJWKS(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d before Init, want 503", rec.Code)
	}
}

// TestJWKSMembers checks that every key (of every algorithm and state) is
// published with exactly the public members, and no private one.
func TestJWKSMembers(t *testing.T) {
	publicMembers := map[string][]string{
		"RSA": {"alg", "e", "kid", "kty", "n", "use"},
		"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
		"OKP": {"alg", "crv", "kid", "kty", "use", "x"},
	}
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			m := newManager(t, nil, nil, keys.Options{Algorithm: alg})
			if _, err := m.Rotate(ctx, true); err != nil { // one retired, one active
				t.Fatal(err)
			}
			if _, err := m.Rotate(ctx, false); err != nil { // one next
				t.Fatal(err)
			}
			doc, _ := m.JWKS()
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(doc, &set); err != nil {
				t.Fatal(err)
			}
			var kids []string
			for _, k := range m.Keys() {
				kids = append(kids, k.KID)
			}
			if len(set.Keys) != 3 {
				t.Fatalf("%d keys published, want 3 (next, active, retired)", len(set.Keys))
			}
			for i, k := range set.Keys {
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
					if _, ok := k[private]; ok {
						t.Fatalf("private member %q published", private)
					}
				}
				var names []string
				for name := range k {
					names = append(names, name)
				}
				slices.Sort(names)
				if want := publicMembers[k["kty"].(string)]; !slices.Equal(names, want) {
					t.Errorf("members (-got +want):\n- %v\n+ %v", names, want)
				}
				if k["alg"] != alg || k["use"] != "sig" || k["kid"] != kids[i] {
					t.Errorf("key %d: alg %v use %v kid %v", i, k["alg"], k["use"], k["kid"])
				}
			}
		})
	}
}

// TestJWKSStable: the same set gives the same bytes and ETag, in this
// process after a reload and in another process; a change gives new ones.
func TestJWKSStable(t *testing.T) {
	ctx := context.Background()
	st, sealer := &keystest.Store{}, newSealer(t)
	opts := keys.Options{Algorithm: keys.ES256}
	m := newManager(t, st, sealer, opts)
	doc, etag := m.JWKS()

	other := newManager(t, st, sealer, opts)
	if doc2, etag2 := other.JWKS(); !bytes.Equal(doc, doc2) || etag != etag2 {
		t.Fatalf("another process serves another document for the same set:\n%s\n%s", doc, doc2)
	}
	if _, err := other.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	doc3, etag3 := m.JWKS()
	if etag3 == etag || bytes.Equal(doc3, doc) {
		t.Fatal("JWKS unchanged after a key was added")
	}
	// A change that publishes the same keys (a retirement of the next key
	// moves it to retired) keeps bytes and ETag.
	next := m.Keys()[1].KID
	if err := other.Retire(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if doc4, etag4 := m.JWKS(); etag4 != etag3 || !bytes.Equal(doc4, doc3) {
		t.Fatal("JWKS changed although the published keys did not")
	}
}
