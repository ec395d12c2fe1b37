package testutil

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// PostToken posts form to the token endpoint of the server at base, with
// HTTP Basic when basic holds an id and a secret, and returns the status,
// the response headers and the decoded JSON body (nil if it is none).
func PostToken(t testing.TB, base string, form url.Values, basic ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header, body
}
