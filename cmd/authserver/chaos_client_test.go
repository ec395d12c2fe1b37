package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauthkit/authserver/verify"
)

// chaosStats are the counters of a chaos run, shared by its clients.
type chaosStats struct {
	requests, ok, unavailable, transport atomic.Int64
	doubles, lost, verifyFailed, other   atomic.Int64
	replays                              atomic.Int64

	mu         sync.Mutex
	otherCodes map[int]int
	streaks    []time.Duration // each stretch of 503s a client met, until its next 200
	streakEnds []time.Time
	verifyErrs []string
	losses     []time.Time // when a client was told its session was gone
	lossWhy    []string
}

func (s *chaosStats) addOther(code int) {
	s.other.Add(1)
	s.mu.Lock()
	s.otherCodes[code]++
	s.mu.Unlock()
}

func (s *chaosStats) addStreak(start, end time.Time) {
	s.mu.Lock()
	s.streaks = append(s.streaks, end.Sub(start))
	s.streakEnds = append(s.streakEnds, end)
	s.mu.Unlock()
}

// chaosClient is one client of the run: it logs in once, then refreshes
// in a loop at a random server, keeping a ledger of every token it
// presented and the successor it got, and verifies every access token.
type chaosClient struct {
	pick     func() string // a live server's base URL
	login    url.Values
	verifier *verify.Verifier
	stats    *chaosStats
	hc       *http.Client
	lastOK   atomic.Int64 // Unix ns of its last 200
}

type tokenReply struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// post sends form to a live server; err is a transport error.
func (c *chaosClient) post(ctx context.Context, form url.Values) (int, tokenReply, error) {
	var r tokenReply
	req, err := http.NewRequestWithContext(ctx, "POST", c.pick()+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, r, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, r, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil && resp.StatusCode == 200 {
		return 0, r, err // cut off mid-answer
	}
	return resp.StatusCode, r, nil
}

// logIn logs in until it succeeds or ctx ends, and returns the refresh
// token ("" if ctx ended).
func (c *chaosClient) logIn(ctx context.Context) string {
	for ctx.Err() == nil {
		code, r, err := c.post(ctx, c.login)
		c.stats.requests.Add(1)
		switch {
		case err != nil:
			c.stats.transport.Add(1)
		case code == 200:
			c.stats.ok.Add(1)
			c.check(ctx, r.AccessToken)
			return r.RefreshToken
		case code == http.StatusServiceUnavailable:
			c.stats.unavailable.Add(1)
		default:
			c.stats.addOther(code)
		}
		pause(ctx, 100*time.Millisecond)
	}
	return ""
}

// check verifies an access token through the JWKS.
func (c *chaosClient) check(ctx context.Context, token string) {
	if _, err := c.verifier.Verify(ctx, token); err != nil && ctx.Err() == nil {
		c.stats.verifyFailed.Add(1)
		c.stats.mu.Lock()
		c.stats.verifyErrs = append(c.stats.verifyErrs, err.Error())
		c.stats.mu.Unlock()
	}
}

// run refreshes until ctx ends. One time in ten it presents the token it
// just redeemed once more, as a client whose answer was lost would: the
// ledger must show the same successor.
func (c *chaosClient) run(ctx context.Context) {
	token := c.logIn(ctx)
	ledger := map[string]string{}
	var first503 time.Time
	for ctx.Err() == nil {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "refresh_token": {token}}
		code, r, err := c.post(ctx, form)
		if ctx.Err() != nil {
			return
		}
		c.stats.requests.Add(1)
		switch {
		case err != nil:
			c.stats.transport.Add(1)
		case code == 200:
			c.stats.ok.Add(1)
			now := time.Now()
			c.lastOK.Store(now.UnixNano())
			if !first503.IsZero() {
				c.stats.addStreak(first503, now)
				first503 = time.Time{}
			}
			if prev, ok := ledger[token]; ok {
				c.stats.replays.Add(1)
				if prev != r.RefreshToken {
					c.stats.doubles.Add(1)
				}
			}
			ledger[token] = r.RefreshToken
			c.check(ctx, r.AccessToken)
			if rand.IntN(10) != 0 {
				token = r.RefreshToken
			}
		case code == http.StatusServiceUnavailable:
			c.stats.unavailable.Add(1)
			if first503.IsZero() {
				first503 = time.Now()
			}
		case code == http.StatusBadRequest && r.Error == "invalid_grant":
			c.stats.lost.Add(1)
			c.stats.mu.Lock()
			c.stats.losses = append(c.stats.losses, time.Now())
			c.stats.lossWhy = append(c.stats.lossWhy, r.Description)
			c.stats.mu.Unlock()
			token = c.logIn(ctx)
		default:
			c.stats.addOther(code)
		}
		pause(ctx, 50*time.Millisecond)
	}
}

// pause waits d (a client's think time, or its back-off) or until ctx
// ends.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
