package authserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAuthorizeRequest sends arbitrary authorization requests, with and
// without a form body, and checks the endpoint's promises: never a 500 or
// a panic, and never a redirect anywhere but a registered redirect URI
// (loopback ports aside), with iss always added.
func FuzzAuthorizeRequest(f *testing.F) {
	for _, seed := range []string{
		authzQuery()[len("/oauth2/authorize?"):],
		authzQuery("client_id", "native", "redirect_uri", "http://127.0.0.1:8/cb")[len("/oauth2/authorize?"):],
		authzQuery("redirect_uri", "http://127.0.0.1:8/cb")[len("/oauth2/authorize?"):],
		"client_id=spa&redirect_uri=https%3A%2F%2Fapp.example.test%2Fcallback%2F..%2Fx",
		"client_id=native&redirect_uri=http://[::1]:80/cb&response_type=code",
		"client_id=native&redirect_uri=http://127.0.0.1:99999/cb",
		"client_id=spa&client_id=spa&state=%zz",
		"", ";", "client_id=third&response_type=code&prompt=none",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	e := newCodeEnv(f)
	h := e.srv.Handler()
	registered := []string{spaRedirect, "http://127.0.0.1/cb", "com.example.app:/oauth2redirect", "https://native.example.test/a", thirdRedirect, "https://pw.example.test/cb"}
	f.Fuzz(func(t *testing.T, query string, post bool) {
		var req *http.Request
		if post {
			req = httptest.NewRequest(http.MethodPost, "/oauth2/authorize", strings.NewReader(url.Values{"authz_request": {query}, "action": {"allow"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.Path, req.URL.RawQuery = "/oauth2/authorize", query
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q", w.Code, query)
		}
		loc := w.Header().Get("Location")
		if loc == "" {
			return
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("Location %q: %v", loc, err)
		}
		if u.Query().Get("iss") != e.http.URL {
			t.Fatalf("redirect %q without iss", loc)
		}
		u.RawQuery = ""
		target := u.String()
		if u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "::1") && u.Path == "/cb" {
			return
		}
		for _, r := range registered {
			if target == strings.SplitN(r, "?", 2)[0] {
				return
			}
		}
		t.Fatalf("redirected to unregistered %q for %q", loc, query)
	})
}
