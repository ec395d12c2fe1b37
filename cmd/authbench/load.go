package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// creds identifies an OAuth client; a public client has no secret.
type creds struct{ id, secret string }

// endpoints are the URLs the scenarios call, from the server's metadata.
type endpoints struct{ token, jwks string }

// bench holds what every scenario shares: one HTTP client (one connection
// pool) and the target.
type bench struct {
	cfg       config
	hc        *http.Client
	ep        endpoints
	svc       creds // client_credentials; empty id: scenario skipped
	login     creds // password and refresh
	username  string
	password  string // empty: password and refresh skipped
	serverPID int    // 0: server CPU unknown
	relogins  atomic.Int64
}

// newHTTPClient returns the one client of the run. Its pool keeps an idle
// connection per worker, so that after the warm-up every request reuses a
// connection and the run measures the server, not TCP setup.
func newHTTPClient(concurrency int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // load goes straight to 127.0.0.1, never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * concurrency,
		MaxIdleConnsPerHost: 2 * concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// step sends one request and returns "" on success or the kind of failure
// (see errorCounts).
type step func(ctx context.Context) string

// newStep prepares one worker of a scenario: its request body, and for
// refresh its own chain (one login, outside the measurement).
func (b *bench) newStep(ctx context.Context, scenario string) (step, error) {
	switch scenario {
	case scenarioClientCredentials:
		body := b.form(url.Values{"grant_type": {"client_credentials"}}, b.svc)
		return func(ctx context.Context) string {
			_, kind := b.token(ctx, body, b.svc)
			return kind
		}, nil
	case scenarioPassword:
		body := b.loginForm()
		return func(ctx context.Context) string {
			_, kind := b.token(ctx, body, b.login)
			return kind
		}, nil
	case scenarioRefresh:
		return b.newRefreshChain(ctx)
	case scenarioJWKS:
		return b.getJWKS, nil
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}

func (b *bench) loginForm() string {
	return b.form(url.Values{"grant_type": {"password"}, "username": {b.username}, "password": {b.password}}, b.login)
}

// newRefreshChain logs in once and returns a step that refreshes, always
// with the newest refresh token. A chain that breaks (the server refused
// its token with a 400) starts again with a login, counted in
// bench.relogins; after a timeout the same token is sent again, which the
// server's reuse grace answers.
func (b *bench) newRefreshChain(ctx context.Context) (step, error) {
	relogin := func(ctx context.Context) (string, error) {
		tr, kind := b.token(ctx, b.loginForm(), b.login)
		if kind != "" {
			return "", fmt.Errorf("log in as %s: %s", b.username, kind)
		}
		if tr.RefreshToken == "" {
			return "", errors.New("log in: the response has no refresh_token")
		}
		return tr.RefreshToken, nil
	}
	rt, err := relogin(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) string {
		body := b.form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, b.login)
		tr, kind := b.token(ctx, body, b.login)
		switch {
		case kind == "" && tr.RefreshToken == "":
			kind = "body"
		case kind == "":
			rt = tr.RefreshToken
			return ""
		}
		if kind == "400" { // the server refused the token: this chain is over
			if next, err := relogin(ctx); err == nil {
				b.relogins.Add(1)
				rt = next
			}
		}
		return kind
	}, nil
}

// form encodes a token request: the grant's parameters, client_id for a
// public client (a confidential one uses Basic), and -extra-form.
func (b *bench) form(v url.Values, c creds) string {
	if c.secret == "" {
		v.Set("client_id", c.id)
	}
	for k, vs := range b.cfg.extraForm {
		v[k] = append(v[k], vs...)
	}
	return v.Encode()
}

// tokenResponse is what the scenarios read of a token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// token posts body to the token endpoint, authenticating c with HTTP Basic
// when it has a secret.
func (b *bench) token(ctx context.Context, body string, c creds) (tokenResponse, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.ep.token, bytes.NewReader([]byte(body)))
	if err != nil {
		return tokenResponse{}, "transport"
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.secret != "" {
		// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	}
	raw, kind := b.do(req)
	if kind != "" {
		return tokenResponse{}, kind
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil || tr.AccessToken == "" {
		return tokenResponse{}, "body"
	}
	return tr, ""
}

func (b *bench) getJWKS(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.ep.jwks, nil)
	if err != nil {
		return "transport"
	}
	_, kind := b.do(req)
	return kind
}

// do sends req and reads the whole body, so that the connection goes back
// to the pool.
func (b *bench) do(req *http.Request) ([]byte, string) {
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, "transport"
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "transport"
	}
	if resp.StatusCode != http.StatusOK {
		return nil, strconv.Itoa(resp.StatusCode)
	}
	return raw, ""
}

// workerStats is what one worker measured.
type workerStats struct {
	latencies []time.Duration // of successful requests
	errors    errorCounts
}

// drive runs every step in its own goroutine until the deadline, until
// limit requests were started (0: no limit), or until ctx ends. Requests
// under way at the deadline complete and count.
func drive(ctx context.Context, steps []step, deadline time.Time, limit int) []workerStats {
	var started atomic.Int64
	out := make([]workerStats, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps {
		wg.Go(func() {
			ws := workerStats{latencies: make([]time.Duration, 0, 1024), errors: errorCounts{}}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if limit > 0 && started.Add(1) > int64(limit) {
					break
				}
				t := time.Now()
				kind := s(ctx)
				if kind != "" {
					ws.errors[kind]++
					continue
				}
				ws.latencies = append(ws.latencies, time.Since(t))
			}
			out[i] = ws
		})
	}
	wg.Wait()
	return out
}

// scenarioResult is the report of one scenario.
type scenarioResult struct {
	Name      string        `json:"name"`
	Skipped   string        `json:"skipped,omitempty"`
	Tokens    bool          `json:"issues_tokens"` // each success signs one access token
	Requests  int           `json:"requests"`
	OK        int           `json:"ok"`
	Errors    errorCounts   `json:"errors"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	ReqPerSec float64       `json:"req_per_sec"`
	OKPerSec  float64       `json:"ok_per_sec"`
	Latency   latencies     `json:"latency_ns"`
	Relogins  int64         `json:"relogins,omitempty"`

	// ServerCPU is the server's user+system CPU over the measured phase;
	// ServerCPUPerOK divides it by the successful requests. Both 0 when
	// the server's process is unknown.
	ServerCPU      time.Duration `json:"server_cpu_ns"`
	ServerCPUPerOK time.Duration `json:"server_cpu_per_ok_ns"`
	// ClientCPU is the harness's own CPU over the same phase: on a small
	// machine it competes with the server for the same cores.
	ClientCPU time.Duration `json:"client_cpu_ns"`

	// RawSign is the signing baseline of a token scenario: the mean of
	// the raw signing runs just before and just after it.
	RawSign *signResult `json:"raw_sign,omitempty"`
}

// runScenario prepares the workers, warms up, then measures.
func (b *bench) runScenario(ctx context.Context, name string) (scenarioResult, error) {
	res := scenarioResult{Name: name, Tokens: name != scenarioJWKS, Errors: errorCounts{}}
	if why := b.skip(name); why != "" {
		res.Skipped = why
		return res, nil
	}
	steps, err := b.prepare(ctx, name)
	if err != nil {
		return res, fmt.Errorf("prepare %s: %w", name, err)
	}
	if b.cfg.warmup > 0 {
		drive(ctx, steps, time.Now().Add(b.cfg.warmup), 0)
	}
	b.relogins.Store(0)
	server0, serverErr := b.serverCPU()
	self0, selfErr := selfCPU()
	start := time.Now()
	stats := drive(ctx, steps, start.Add(b.cfg.duration), b.cfg.maxRequests)
	res.Elapsed = time.Since(start)
	server1, serverErr1 := b.serverCPU()
	self1, selfErr1 := selfCPU()
	if err := ctx.Err(); err != nil {
		return res, err
	}

	var all []time.Duration
	for _, ws := range stats {
		all = append(all, ws.latencies...)
		for k, v := range ws.errors {
			res.Errors[k] += v
		}
	}
	res.OK = len(all)
	res.Requests = res.OK + res.Errors.total()
	res.ReqPerSec = float64(res.Requests) / res.Elapsed.Seconds()
	res.OKPerSec = float64(res.OK) / res.Elapsed.Seconds()
	res.Latency = summarize(all)
	res.Relogins = b.relogins.Load()
	if serverErr == nil && serverErr1 == nil && b.serverPID != 0 {
		res.ServerCPU = server1 - server0
		if res.OK > 0 {
			res.ServerCPUPerOK = res.ServerCPU / time.Duration(res.OK)
		}
	}
	if selfErr == nil && selfErr1 == nil {
		res.ClientCPU = self1 - self0
	}
	return res, nil
}

// skip says why a scenario cannot run against this target, or "".
func (b *bench) skip(name string) string {
	switch name {
	case scenarioClientCredentials:
		if b.svc.id == "" {
			return "no -client-id/-client-secret"
		}
	case scenarioPassword, scenarioRefresh:
		if b.password == "" {
			return "no -password"
		}
	}
	return ""
}

// prepareInFlight bounds the steps prepared at once. For refresh each is
// a login of the same user, and the server's lockout counts a login in
// flight as a failure until its password is checked (authserver: five
// per user), so 32 workers logging in at once would be refused with 429.
const prepareInFlight = 4

// prepare builds the steps of every worker, prepareInFlight at a time
// (for refresh: one login each, which the password hasher serialises).
func (b *bench) prepare(ctx context.Context, name string) ([]step, error) {
	steps := make([]step, b.cfg.concurrency)
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	sem := make(chan struct{}, prepareInFlight)
	for i := range steps {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			steps[i], errs[i] = b.newStep(ctx, name)
		})
	}
	wg.Wait()
	return steps, errors.Join(errs...)
}

func (b *bench) serverCPU() (time.Duration, error) {
	if b.serverPID == 0 {
		return 0, errors.New("server process unknown")
	}
	return procCPU(b.serverPID)
}
