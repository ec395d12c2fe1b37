package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Claims are the claims of a verified access token (RFC 9068 §2.2).
type Claims struct {
	Issuer   string   // iss
	Subject  string   // sub: the user id, or the client id for client_credentials
	ClientID string   // client_id
	JTI      string   // jti
	Audience []string // aud, an array even when the token has a string

	// Scopes are the space-separated values of the scope claim, in order.
	Scopes []string

	IssuedAt  time.Time // iat; zero if absent
	ExpiresAt time.Time // exp
	NotBefore time.Time // nbf; zero if absent

	// Extra holds every other claim (the user's custom claims, for one)
	// as encoding/json decodes into an any: numbers are float64. It is nil
	// when there is none.
	Extra map[string]any
}

// HasScope reports whether the token was granted scope s.
func (c *Claims) HasScope(s string) bool { return slices.Contains(c.Scopes, s) }

// requireScopes returns an error wrapping ErrInsufficientScope naming the
// first of scopes the token lacks.
func (c *Claims) requireScopes(scopes []string) error {
	for _, s := range scopes {
		if !c.HasScope(s) {
			return fmt.Errorf("%w: missing %q", ErrInsufficientScope, s)
		}
	}
	return nil
}

// registered claims with a field in Claims. Any other claim goes to Extra.
const (
	claimIss      = "iss"
	claimSub      = "sub"
	claimAud      = "aud"
	claimExp      = "exp"
	claimNbf      = "nbf"
	claimIat      = "iat"
	claimJTI      = "jti"
	claimClientID = "client_id"
	claimScope    = "scope"
)

// decodeClaims decodes the payload into a map in a single pass (by
// decodeFlat when it can, else by encoding/json), moves the registered
// claims out of it into typed fields and keeps the rest as Extra: no second
// decoding, no copy of the custom claims. Claim names match exactly, as
// they must: encoding/json's case-insensitive matching into a struct would
// let a custom claim "Scope" pose as "scope".
func decodeClaims(payload []byte) (*Claims, error) {
	m, err := decodeObject(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object", ErrMalformed)
	}
	r := claimReader{m: m, what: "claim"}
	c := &Claims{
		Issuer:    r.str(claimIss),
		Subject:   r.str(claimSub),
		ClientID:  r.str(claimClientID),
		JTI:       r.str(claimJTI),
		Audience:  r.audience(),
		IssuedAt:  r.date(claimIat),
		ExpiresAt: r.date(claimExp),
		NotBefore: r.date(claimNbf),
	}
	if scope := r.str(claimScope); scope != "" {
		c.Scopes = strings.Fields(scope)
	}
	if r.err != nil {
		return nil, r.err
	}
	if c.ExpiresAt.IsZero() {
		return nil, fmt.Errorf("%w: missing exp claim", ErrMalformed)
	}
	if len(m) > 0 {
		c.Extra = m
	}
	return c, nil
}

// decodeObject decodes a JSON object into a map, by decodeFlat when it
// can, else by encoding/json. JSON null gives an empty map.
func decodeObject(b []byte) (map[string]any, error) {
	if m, ok := decodeFlat(string(b)); ok {
		return m, nil
	}
	// Sized for the registered claims and a few more, so that it need not
	// grow while decoding.
	m := make(map[string]any, 16)
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// claimReader takes typed claims out of a decoded payload, remembering the
// first ill-typed one.
type claimReader struct {
	m    map[string]any
	what string // "claim" or "header member", for errors
	err  error
}

func (r *claimReader) take(name string) (any, bool) {
	v, ok := r.m[name]
	if ok {
		delete(r.m, name)
	}
	return v, ok
}

func (r *claimReader) fail(name, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s %s is not %s", ErrMalformed, r.what, name, want)
	}
}

func (r *claimReader) str(name string) string {
	v, ok := r.take(name)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.fail(name, "a string")
	}
	return s
}

// audience reads aud, a string or an array of strings (RFC 7519 §4.1.3).
func (r *claimReader) audience() []string {
	v, ok := r.take(claimAud)
	if !ok {
		return nil
	}
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		out := make([]string, len(a))
		for i, e := range a {
			s, ok := e.(string)
			if !ok {
				r.fail(claimAud, "a string or an array of strings")
				return nil
			}
			out[i] = s
		}
		return out
	}
	r.fail(claimAud, "a string or an array of strings")
	return nil
}

// date reads a NumericDate (RFC 7519 §2): seconds since the epoch, possibly
// fractional. Absurd values are clamped to about ±30 million years rather
// than overflowing into the opposite meaning.
func (r *claimReader) date(name string) time.Time {
	v, ok := r.take(name)
	if !ok {
		return time.Time{}
	}
	f, ok := v.(float64)
	if !ok {
		r.fail(name, "a number")
		return time.Time{}
	}
	const limit = 1e15
	f = min(max(f, -limit), limit)
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

type claimsKey struct{}

// ClaimsFromContext returns the claims that Middleware put in the request
// context, and whether there are any.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// ContextWithClaims returns a copy of ctx carrying c, as Middleware does;
// handler tests can use it to fake an authenticated request.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}
