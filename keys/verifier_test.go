package keys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

// cachingVerifier checks tokens as a resource server does: with go-jose,
// against a JWKS fetched over HTTP and cached exactly as long as its
// Cache-Control max-age allows, aged by the simulated clock. It keeps its
// copy until it is older than max-age (the longest a cache may), then
// revalidates with If-None-Match. With refetchUnknown it also refetches
// once on an unknown kid, at most once per minRefetch; without, it relies
// on max-age alone, which publish_ahead must be enough for.
type cachingVerifier struct {
	name           string
	from           time.Duration // starts verifying this long into the run
	url            string
	now            func() time.Time
	refetchUnknown bool

	set        jose.JSONWebKeySet
	etag       string
	fetched    time.Time
	maxAge     time.Duration
	lastForced time.Time
	fetches    int // requests, 304s included
	forced     int // refetches on an unknown kid
}

// minRefetch rate-limits the refetch on an unknown kid: a flood of tokens
// with made-up kids must not become a flood of JWKS requests.
const minRefetch = time.Minute

func (v *cachingVerifier) verify(token string) error {
	now := v.now()
	if v.fetched.IsZero() || now.Sub(v.fetched) > v.maxAge {
		if err := v.fetch(now); err != nil {
			return err
		}
	}
	_, payload, err := testutil.VerifyJOSE(v.set, token)
	if errors.Is(err, testutil.ErrUnknownKID) && v.refetchUnknown && now.Sub(v.lastForced) >= minRefetch {
		v.lastForced = now
		v.forced++
		if err := v.fetch(now); err != nil {
			return err
		}
		_, payload, err = testutil.VerifyJOSE(v.set, token)
	}
	if err != nil {
		return err
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return err
	}
	if !now.Before(time.Unix(claims.Exp, 0)) {
		return fmt.Errorf("token expired at %v", time.Unix(claims.Exp, 0))
	}
	return nil
}

func (v *cachingVerifier) fetch(now time.Time) error {
	req, err := http.NewRequest(http.MethodGet, v.url, nil)
	if err != nil {
		return err
	}
	if v.etag != "" {
		req.Header.Set("If-None-Match", v.etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	v.fetches++
	switch resp.StatusCode {
	case http.StatusNotModified:
	case http.StatusOK:
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(body, &set); err != nil {
			return err
		}
		v.set, v.etag = set, resp.Header.Get("ETag")
	default:
		return fmt.Errorf("GET JWKS: %s", resp.Status)
	}
	age, err := maxAge(resp.Header.Get("Cache-Control"))
	if err != nil {
		return err
	}
	v.fetched, v.maxAge = now, age
	return nil
}

func maxAge(cacheControl string) (time.Duration, error) {
	for directive := range strings.SplitSeq(cacheControl, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(directive), "max-age="); ok {
			n, err := strconv.Atoi(v)
			return time.Duration(n) * time.Second, err
		}
	}
	return 0, fmt.Errorf("no max-age in %q", cacheControl)
}

// TestZeroFailedVerifications: while two replicas rotate on schedule,
// verifiers that cache the JWKS for as long as max-age allows never fail
// to verify a fresh token, nor the oldest one that has not expired; not
// even the strict ones that never refetch on an unknown kid. That is what
// publish_ahead buys: a key is published for longer than any cache keeps
// an older copy.
func TestZeroFailedVerifications(t *testing.T) {
	const (
		every, ahead, ttl, skew = 30 * time.Minute, 10 * time.Minute, 15 * time.Minute, time.Minute
		step                    = 10 * time.Second
		rotations               = 5
	)
	ctx := context.Background()
	clk := newClock()
	start := clk.Now()
	st, sealer := &keystest.Store{}, newSealer(t)
	opts := keys.Options{Algorithm: keys.ES256, RotateEvery: every, PublishAhead: ahead, AccessTTL: ttl, Skew: skew, Now: clk.Now}
	replicas := []*keys.Manager{newManager(t, st, sealer, opts), newManager(t, st, sealer, opts)}
	srv := httptest.NewServer(http.HandlerFunc(replicas[0].ServeJWKS))
	defer srv.Close()

	// Verifiers that start at different moments cache different copies.
	var verifiers []*cachingVerifier
	for _, offset := range []time.Duration{0, 150 * time.Second, 290 * time.Second} {
		for _, refetch := range []bool{false, true} {
			verifiers = append(verifiers, &cachingVerifier{
				name: fmt.Sprintf("start+%v/refetch-unknown=%v", offset, refetch),
				from: offset, url: srv.URL, now: clk.Now, refetchUnknown: refetch,
			})
		}
	}

	var tokens []issued // unexpired, oldest first
	kids := map[string]bool{}
	for n := 0; clk.Now().Before(start.Add(rotations*every + ttl + skew)); n++ {
		now := clk.Now()
		for _, r := range replicas {
			if err := r.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
		}
		tokens = slices.DeleteFunc(tokens, func(tok issued) bool { return !now.Before(tok.exp) })
		tok := sign(t, replicas[n%2], now, ttl)
		tokens = append(tokens, tok)
		kids[tok.kid] = true
		for _, v := range verifiers {
			if now.Sub(start) < v.from {
				continue
			}
			for _, check := range []issued{tok, tokens[0]} {
				if err := v.verify(check.token); err != nil {
					t.Fatalf("%v: verifier %s refused a token of %v ago: %v", now.Sub(start), v.name, now.Sub(check.iat), err)
				}
			}
		}
		clk.Advance(step)
	}
	if len(kids) != rotations+1 {
		t.Fatalf("tokens signed by %d keys, want %d", len(kids), rotations+1)
	}
	for _, v := range verifiers {
		if v.forced != 0 {
			t.Errorf("verifier %s refetched on an unknown kid %d times: a key signed before it was cached", v.name, v.forced)
		}
		t.Logf("verifier %s: %d JWKS requests", v.name, v.fetches)
	}

	// The control, showing the verifiers can fail: an immediate rotation
	// (keys rotate --now) skips publish_ahead. A strict verifier fails
	// until its copy expires; one that refetches on an unknown kid
	// recovers at once.
	t.Run("rotate-now-control", func(t *testing.T) {
		for _, v := range verifiers {
			if err := v.fetch(clk.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := replicas[0].Rotate(ctx, true); err != nil {
			t.Fatal(err)
		}
		tok := sign(t, replicas[0], clk.Now(), ttl)
		for _, v := range verifiers {
			err := v.verify(tok.token)
			if v.refetchUnknown && err != nil {
				t.Errorf("verifier %s: %v", v.name, err)
			}
			if !v.refetchUnknown && err == nil {
				t.Errorf("verifier %s accepted a kid it cannot have cached", v.name)
			}
		}
	})
}

// issued is a token and what the test knows of it.
type issued struct {
	token    string
	kid      string
	iat, exp time.Time
}

// sign signs claims issued at iat, expiring ttl later.
func sign(t *testing.T, m *keys.Manager, iat time.Time, ttl time.Duration) issued {
	t.Helper()
	exp := iat.Add(ttl)
	token, err := m.Sign(fmt.Appendf(nil, `{"sub":"u-1","iat":%d,"exp":%d}`, iat.Unix(), exp.Unix()))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	_, kid, err := m.Verify([]byte(token))
	if err != nil {
		t.Fatalf("Verify of a fresh token: %v", err)
	}
	return issued{token: token, kid: kid, iat: iat, exp: exp}
}

// jwksDoc is the kids and algs of a JWKS document, in its order.
type jwksDoc struct{ kids, algs []string }

func jwksAlgs(t *testing.T, doc []byte) jwksDoc {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("parse JWKS: %v", err)
	}
	var out jwksDoc
	for _, k := range set.Keys {
		out.kids = append(out.kids, k.KeyID)
		out.algs = append(out.algs, k.Algorithm)
	}
	return out
}

type jwksResponse struct {
	status int
	etag   string
	body   []byte
}

// getJWKS fetches the JWKS, conditionally when etag is set.
func getJWKS(t *testing.T, url, etag string) jwksResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return jwksResponse{status: resp.StatusCode, etag: resp.Header.Get("ETag"), body: body.Bytes()}
}

func headerAlg(t *testing.T, token string) string {
	t.Helper()
	obj, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return obj.Signatures[0].Header.Algorithm
}
