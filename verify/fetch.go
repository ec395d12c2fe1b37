package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Bounds on how long a fetched key set is used before it is refreshed.
// The issuer's Cache-Control max-age is honoured within them: the floor
// keeps a misconfigured issuer from being polled in a loop, the ceiling
// lets a revoked key disappear within the hour whatever the issuer says.
const (
	minCacheTTL     = time.Second
	maxCacheTTL     = time.Hour
	defaultCacheTTL = 5 * time.Minute
	maxRetryDelay   = time.Minute
	maxDocumentSize = 1 << 20
)

// discover reads jwks_uri from the issuer's metadata: RFC 8414 first, then
// OpenID Connect discovery. A document naming another issuer ends the
// search (RFC 8414 §3.3): it is an attack or a misconfiguration, not a
// reason to look elsewhere.
func discover(ctx context.Context, client *http.Client, issuer string) (string, error) {
	var errs []error
	for _, u := range metadataURLs(issuer) {
		jwksURL, err := fetchMetadata(ctx, client, u, issuer)
		if err == nil {
			return jwksURL, nil
		}
		if errors.Is(err, ErrIssuer) || errors.Is(err, errDowngrade) || ctx.Err() != nil {
			return "", err
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("discover jwks_uri: %w", errors.Join(errs...))
}

// metadataURLs returns where the issuer's metadata may be. For an issuer
// with a path, RFC 8414 §3.1 inserts the well-known suffix before the path,
// while OpenID Connect appends it.
func metadataURLs(issuer string) []string {
	u, _ := url.Parse(issuer) // validated by New
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return []string{
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path,
		strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration",
	}
}

func fetchMetadata(ctx context.Context, client *http.Client, u, issuer string) (string, error) {
	body, _, err := get(ctx, client, u, "application/json", "")
	if err != nil {
		return "", err
	}
	var md struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return "", fmt.Errorf("parse %s: %w", u, err)
	}
	if md.Issuer != issuer {
		return "", fmt.Errorf("%w: metadata at %s names issuer %q", ErrIssuer, u, short(md.Issuer))
	}
	if err := checkHTTPURL(md.JWKSURI); err != nil {
		return "", fmt.Errorf("metadata at %s: jwks_uri: %w", u, err)
	}
	if strings.HasPrefix(issuer, "https:") && !strings.HasPrefix(md.JWKSURI, "https:") {
		return "", fmt.Errorf("metadata at %s: jwks_uri %q: %w", u, short(md.JWKSURI), errDowngrade)
	}
	return md.JWKSURI, nil
}

// errDowngrade reports a jwks_uri over http named by an https issuer's
// metadata: whoever sits on the path could then substitute the keys, and
// with them every token. It ends discovery, as a wrong issuer does.
var errDowngrade = errors.New("plain http for the keys of an https issuer")

// maxRedirects is how many redirects within one origin a fetch follows,
// as many as net/http's default.
const maxRedirects = 10

// sameOriginRedirects returns a copy of hc that follows a redirect only
// within the origin (scheme, host and port) of the URL first requested;
// any other redirect fails the fetch. A redirect to another host would
// let whoever controls a path on the issuer (or a misconfigured proxy)
// choose where the keys come from, and a redirect from https to http
// would drop TLS. Same-origin redirects (a moved path) add nothing an
// attacker could not serve at the original URL, so they are followed.
// hc's own CheckRedirect, if any, still decides about those.
func sameOriginRedirects(hc *http.Client) *http.Client {
	c := *hc
	next := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		from := via[0].URL
		if req.URL.Scheme != from.Scheme || !strings.EqualFold(req.URL.Host, from.Host) {
			return fmt.Errorf("redirect to another origin (%s://%s) not followed", req.URL.Scheme, req.URL.Host)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &c
}

// errNotModified is returned by get on 304 Not Modified.
var errNotModified = errors.New("not modified")

// get fetches u and returns its body (at most maxDocumentSize bytes) with
// the response headers. It returns errNotModified, with the headers, on a
// 304 answer to If-None-Match etag.
func get(ctx context.Context, client *http.Client, u, accept, etag string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	req.Header.Set("Accept", accept)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && etag != "" {
		return nil, resp.Header, errNotModified
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetch %s: status %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	if len(body) > maxDocumentSize {
		return nil, nil, fmt.Errorf("fetch %s: document over %d bytes", u, maxDocumentSize)
	}
	return body, resp.Header, nil
}

// refresh fetches the key set and installs it, unless a fetch that began
// later has installed its own already. It returns the installed set.
func (v *Verifier) refresh(ctx context.Context) (*keySet, error) {
	seq := v.fetchSeq.Add(1)
	cur := v.keys.Load()
	var etag string
	if cur != nil {
		etag = cur.etag
	}
	body, h, err := get(ctx, v.client, v.jwksURL, "application/jwk-set+json, application/json", etag)
	set := &keySet{seq: seq}
	switch {
	case errors.Is(err, errNotModified):
		set.keys, set.etag = cur.keys, cur.etag
	case err != nil:
		return nil, err
	default:
		keys, skipped, err := parseJWKS(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.jwksURL, err)
		}
		for _, e := range skipped {
			v.log.Warn("verify: key set entry skipped", "jwks_url", v.jwksURL, "err", e)
		}
		set.keys, set.etag = keys, h.Get("ETag")
	}
	set.ttl = cacheTTL(h.Values("Cache-Control"))
	for {
		old := v.keys.Load()
		if old != nil && old.seq > seq {
			return old, nil
		}
		if v.keys.CompareAndSwap(old, set) {
			return set, nil
		}
	}
}

// cacheTTL returns how long a response with these Cache-Control header
// lines may be used, within [minCacheTTL, maxCacheTTL]. no-store and
// no-cache ask for revalidation on every use; we take the floor instead.
func cacheTTL(lines []string) time.Duration {
	ttl := defaultCacheTTL
	for _, line := range lines {
		for d := range strings.SplitSeq(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return minCacheTTL
			case "max-age":
				secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || secs < 0 {
					continue
				}
				ttl = time.Duration(min(secs, int64(maxCacheTTL/time.Second))) * time.Second
			}
		}
	}
	return min(max(ttl, minCacheTTL), maxCacheTTL)
}

// refreshLoop refreshes the key set when three quarters of its cache
// lifetime have passed, so that a key the issuer publishes ahead of use is
// known before the first token it signs arrives. Failures are retried with
// exponential backoff; meanwhile the last key set stays in use.
func (v *Verifier) refreshLoop(ttl time.Duration) {
	t := time.NewTimer(refreshDelay(ttl))
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-t.C:
		}
		set, err := v.refresh(v.ctx)
		if err != nil {
			if v.ctx.Err() != nil {
				return
			}
			failures++
			d := retryDelay(failures)
			v.log.Warn("verify: key set refresh failed", "jwks_url", v.jwksURL, "err", err, "retry_in", d)
			t.Reset(d)
			continue
		}
		failures = 0
		t.Reset(refreshDelay(set.ttl))
	}
}

func refreshDelay(ttl time.Duration) time.Duration { return ttl - ttl/4 }

func retryDelay(failures int) time.Duration {
	return min(time.Second<<min(failures-1, 10), maxRetryDelay)
}

// key returns the key named kid. An unknown kid causes one refetch of the
// key set, shared by every caller that misses meanwhile and at most one per
// refetchInterval (by the injected clock); other misses fail at once.
func (v *Verifier) key(ctx context.Context, kid string) (*publicKey, error) {
	if k := v.keys.Load().keys[kid]; k != nil {
		return k, nil
	}
	v.mu.Lock()
	if k := v.keys.Load().keys[kid]; k != nil {
		v.mu.Unlock()
		return k, nil
	}
	done := v.inflight
	if done == nil {
		now := v.now()
		switch {
		case v.closed:
			v.mu.Unlock()
			return nil, fmt.Errorf("%w: kid %q (verifier closed, no refetch)", ErrUnknownKey, short(kid))
		case !v.lastRefetch.IsZero() && now.Sub(v.lastRefetch) < refetchInterval:
			v.mu.Unlock()
			return nil, fmt.Errorf("%w: kid %q (key set refetched less than %s ago)", ErrUnknownKey, short(kid), refetchInterval)
		}
		v.lastRefetch = now
		done = make(chan struct{})
		v.inflight = done
		v.wg.Add(1)
		go v.refetch(done)
	}
	v.mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: kid %q: waiting for refetch: %w", ErrUnknownKey, short(kid), ctx.Err())
	}
	if k := v.keys.Load().keys[kid]; k != nil {
		return k, nil
	}
	v.mu.Lock()
	err := v.refetchErr
	v.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: kid %q: refetch failed: %w", ErrUnknownKey, short(kid), err)
	}
	return nil, fmt.Errorf("%w: kid %q not in the issuer's key set", ErrUnknownKey, short(kid))
}

// refetch runs one refetch for key and closes done. It runs on its own
// goroutine, under the Verifier's context, so that a caller giving up does
// not fail the fetch for the others waiting on it.
func (v *Verifier) refetch(done chan struct{}) {
	defer v.wg.Done()
	_, err := v.refresh(v.ctx)
	v.mu.Lock()
	v.inflight = nil
	v.refetchErr = err
	v.mu.Unlock()
	close(done)
}
