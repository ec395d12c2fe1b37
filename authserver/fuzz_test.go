package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzTokenRequest feeds arbitrary bodies, content types and
// Authorization headers to the token endpoint: the answer is always a
// well-formed JSON body, never a 500, never a panic, and never a token for
// anything but the few valid requests the seeds contain.
func FuzzTokenRequest(f *testing.F) {
	e := newEnv(f, nil)
	h := e.srv.Handler()
	seeds := []struct{ ct, body, auth string }{
		{"application/x-www-form-urlencoded", "grant_type=password&client_id=app&username=alice&password=" + alicePass, ""},
		{"application/x-www-form-urlencoded", "grant_type=client_credentials", "Basic c3ZjOnN2Yy1zZWNyZXQ="},
		{"application/x-www-form-urlencoded", "grant_type=refresh_token&client_id=app&refresh_token=AQ", ""},
		{"application/json", `{"grant_type":"password","client_id":"app"}`, ""},
		{"application/json", `{"grant_type":["a"]}`, ""},
		{"application/json; charset=utf-8", `{"a":"\u0000"}`, ""},
		{"multipart/form-data; boundary=x", "--x--", ""},
		{"", "grant_type=%", "Basic !!!"},
		{"application/x-www-form-urlencoded", "scope=%22&grant_type=client_credentials", "Basic " + "c3Zj"},
	}
	for _, s := range seeds {
		f.Add(s.ct, s.body, s.auth)
	}
	f.Fuzz(func(t *testing.T, ct, body, auth string) {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d for %q %q %q: %s", w.Code, ct, body, auth, w.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("body is not JSON: %q", w.Body)
		}
		if w.Code != http.StatusOK {
			if _, ok := out["access_token"]; ok {
				t.Fatal("an error response carries a token")
			}
			if out["error"] == nil {
				t.Fatalf("error response without error code: %s", w.Body)
			}
		}
	})
}
