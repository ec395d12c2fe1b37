package adminapi_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/oauthkit/authserver/authserver/adminapi"
)

// The description every test's requests and answers are checked against,
// and the operations the tests exercised.
var (
	spec struct {
		once   sync.Once
		doc    *openapi3.T
		router routers.Router
		err    error
	}
	seenMu sync.Mutex
	seen   = map[string]bool{} // "METHOD /path" of the description
)

func loadSpec() (*openapi3.T, routers.Router, error) {
	spec.once.Do(func() {
		raw, err := os.ReadFile("../../docs/openapi.yaml")
		if err != nil {
			spec.err = err
			return
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(raw)
		if err != nil {
			spec.err = fmt.Errorf("load docs/openapi.yaml: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			spec.err = fmt.Errorf("docs/openapi.yaml is not a valid description: %w", err)
			return
		}
		doc.Servers = nil // match any host: the test servers listen on random ports
		spec.doc = doc
		spec.router, spec.err = legacy.NewRouter(doc)
	})
	return spec.doc, spec.router, spec.err
}

// validating is a RoundTripper that checks every request to the APIs and
// its answer against docs/openapi.yaml. A request the description refuses
// (the tests send malformed ones on purpose) must be refused by the server
// too, with a 4xx problem; every answer must be one the description
// allows.
type validating struct {
	t    *testing.T
	next http.RoundTripper
}

func (v *validating) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(r.URL.Path, "/admin/v1/") && !strings.HasPrefix(r.URL.Path, "/account/v1/") {
		return v.next.RoundTrip(r)
	}
	_, router, err := loadSpec()
	if err != nil {
		v.t.Errorf("openapi: %v", err)
		return v.next.RoundTrip(r)
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	// The router matches decoded paths: an escaped slash inside a path
	// parameter (a user name) would split it. It matches the escaped form.
	lookup := r.Clone(r.Context())
	lookup.URL.Path, lookup.URL.RawPath = r.URL.EscapedPath(), ""
	lookup.Body = nil
	route, params, findErr := router.FindRoute(lookup)
	var in *openapi3filter.RequestValidationInput
	var reqErr error
	if findErr == nil {
		seenMu.Lock()
		seen[r.Method+" "+route.Path] = true
		seenMu.Unlock()
		in = &openapi3filter.RequestValidationInput{
			Request: lookup, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		}
		if r.Body != nil {
			lookup.Body = io.NopCloser(bytes.NewReader(body))
		}
		reqErr = openapi3filter.ValidateRequest(r.Context(), in)
		if r.Body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	resp, err := v.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	problem := resp.Header.Get("Content-Type") == "application/problem+json"
	switch {
	case findErr != nil:
		// A route the description lacks: the server must not serve it.
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed || !problem {
			v.t.Errorf("openapi: %s %s is not described, yet answered %d %s", r.Method, r.URL.Path, resp.StatusCode, respBody)
		}
		return resp, nil
	case reqErr != nil:
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || !problem {
			v.t.Errorf("openapi: %s %s: the description refuses the request (%v), the server answered %d %s", r.Method, r.URL.Path, reqErr, resp.StatusCode, respBody)
		}
	}
	if in == nil {
		return resp, nil
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
		v.t.Errorf("openapi: %s %s: answer %d not as described: %v\n%s", r.Method, r.URL.Path, resp.StatusCode, err, respBody)
	}
	return resp, nil
}

// TestMain runs the tests, then, when all of them ran, checks that they
// exercised every operation of the description.
func TestMain(m *testing.M) {
	code := m.Run()
	if f := flag.Lookup("test.run"); code == 0 && f != nil && f.Value.String() == "" {
		doc, _, err := loadSpec()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var missed []string
		for _, op := range described(doc) {
			if !seen[op] {
				missed = append(missed, op)
			}
		}
		if len(missed) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: operations of docs/openapi.yaml no test exercised: %v\n", missed)
			code = 1
		}
	}
	os.Exit(code)
}

// described lists the operations of doc as "METHOD /path".
func described(doc *openapi3.T) []string {
	var ops []string
	for p, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			ops = append(ops, m+" "+p)
		}
	}
	slices.Sort(ops)
	return ops
}

// TestOpenAPIDescribesEveryRoute holds the routes the API serves and the
// operations the description lists to each other.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc, _, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	routes := adminapi.Routes()
	slices.Sort(routes)
	if got := described(doc); !slices.Equal(got, routes) {
		t.Fatalf("docs/openapi.yaml operations (-described +served):\n%s", diffLists(got, routes))
	}
}

// TestOpenAPIServed checks that the embedded description is
// docs/openapi.yaml and is served as JSON.
func TestOpenAPIServed(t *testing.T) {
	raw, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, adminapi.OpenAPIYAML) {
		t.Fatal("authserver/adminapi/openapi.yaml differs from docs/openapi.yaml: copy it over")
	}
	stores(t, func(t *testing.T, e *env) {
		r := e.do(t, req{method: "GET", path: "/admin/v1/openapi.json"})
		if r.status != http.StatusOK || r.str("openapi") != "3.1.0" {
			t.Fatalf("openapi.json: %d %.200s", r.status, r.raw)
		}
	})
}

func diffLists(a, b []string) string {
	var out strings.Builder
	for _, s := range a {
		if !slices.Contains(b, s) {
			fmt.Fprintf(&out, "-%s\n", s)
		}
	}
	for _, s := range b {
		if !slices.Contains(a, s) {
			fmt.Fprintf(&out, "+%s\n", s)
		}
	}
	return out.String()
}
