package verify

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Middleware returns net/http middleware that lets a request through only
// with a valid access token carrying every one of requiredScopes (or, when
// none are given, those of WithRequiredScopes). The handler finds the
// claims with ClaimsFromContext.
//
// Following RFC 6750 §3, a request without a bearer token gets 401 with a
// bare challenge (no error attribute), an invalid token 401 with
// error="invalid_token", a bearer header that is not well-formed 400 with
// error="invalid_request", and a token lacking a scope 403 with
// error="insufficient_scope" and the scopes required. Descriptions are
// fixed strings: nothing from the token is echoed.
//
// Middleware panics if a scope is not a valid scope token (RFC 6749 §3.3),
// a programming error best found at start.
func (v *Verifier) Middleware(requiredScopes ...string) func(http.Handler) http.Handler {
	scopes := v.scopes
	if len(requiredScopes) > 0 {
		scopes = append([]string(nil), requiredScopes...)
	}
	for _, s := range scopes {
		if !validScopeToken(s) {
			panic(fmt.Sprintf("verify: Middleware: invalid scope %q", s))
		}
	}
	realm := quote(v.realm)
	scopeParam := quote(strings.Join(scopes, " "))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, status := bearerToken(r)
			switch status {
			case tokenMissing:
				w.Header().Set("WWW-Authenticate", "Bearer realm="+realm)
				w.WriteHeader(http.StatusUnauthorized)
				return
			case tokenMalformed:
				challenge(w, http.StatusBadRequest, realm, "invalid_request", "the Authorization header is not a single bearer token", "")
				return
			}
			c, err := v.verify(r.Context(), token)
			if err == nil {
				err = c.requireScopes(scopes)
			}
			if err != nil {
				v.log.DebugContext(r.Context(), "verify: request refused", "err", err)
				if errors.Is(err, ErrInsufficientScope) {
					challenge(w, http.StatusForbidden, realm, "insufficient_scope", "the access token lacks a required scope", scopeParam)
					return
				}
				challenge(w, http.StatusUnauthorized, realm, "invalid_token", describe(err), "")
				return
			}
			next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), c)))
		})
	}
}

type tokenStatus int

const (
	tokenOK tokenStatus = iota
	tokenMissing
	tokenMalformed
)

// bearerToken reads the token of an "Authorization: Bearer" header (RFC
// 6750 §2.1; the scheme is case-insensitive). Another scheme counts as no
// token at all (§3.1).
func bearerToken(r *http.Request) (string, tokenStatus) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", tokenMissing
	}
	scheme, token, _ := strings.Cut(h[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", tokenMissing
	}
	token = strings.TrimSpace(token)
	if len(h) > 1 || token == "" || strings.ContainsAny(token, " \t") {
		return "", tokenMalformed
	}
	return token, tokenOK
}

// describe maps a verification error to a fixed error_description.
func describe(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "the access token expired"
	case errors.Is(err, ErrNotYetValid):
		return "the access token is not valid yet"
	case errors.Is(err, ErrAudience):
		return "the access token is not meant for this service"
	case errors.Is(err, ErrIssuer):
		return "the access token is from another issuer"
	case errors.Is(err, ErrType):
		return "the token is not an access token"
	case errors.Is(err, ErrUnknownKey):
		return "the access token is signed with an unknown key"
	default:
		return "the access token is invalid"
	}
}

// challenge answers with a Bearer challenge carrying an error code, and the
// same code and description as a JSON body.
func challenge(w http.ResponseWriter, status int, realm, code, description, scope string) {
	v := "Bearer realm=" + realm + `, error="` + code + `", error_description="` + description + `"`
	if scope != "" {
		v += ", scope=" + scope
	}
	h := w.Header()
	h.Set("WWW-Authenticate", v)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"error_description":%q}`+"\n", code, description)
}

// quote returns s as an HTTP quoted-string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 && c != '\t' || c == 0x7f:
			// Control characters cannot appear in a header value.
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
