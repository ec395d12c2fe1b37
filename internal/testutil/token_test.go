package testutil

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestPostToken(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, basic := r.BasicAuth()
		if r.URL.Path != "/oauth2/token" || r.FormValue("grant_type") != "client_credentials" || !basic || id != "svc" || secret != "s" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"temporarily_unavailable"}`))
	}))
	defer hs.Close()
	code, h, body := PostToken(t, hs.URL, url.Values{"grant_type": {"client_credentials"}}, "svc", "s")
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" || body["error"] != "temporarily_unavailable" {
		t.Errorf("PostToken = %d %v %v", code, h, body)
	}
	if code, _, _ := PostToken(t, hs.URL, url.Values{"grant_type": {"client_credentials"}}); code != http.StatusBadRequest {
		t.Errorf("PostToken without Basic = %d, want 400", code)
	}
}
