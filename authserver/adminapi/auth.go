package adminapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/oauthkit/authserver/verify"
)

// caller is who sent a request: the client, and for the account API the
// signed-in user.
type caller struct {
	ClientID string
	UserID   string // empty on the admin API
	Scopes   []string
}

// authenticate checks the bearer token of r for a route that requires
// scope. The admin API takes only client_credentials tokens (sub is the
// client), the account API only a user's (sub is the user), so that a
// user's token never reaches /admin/v1 however its client's scopes are
// configured, and an admin token never acts as a user.
func (a *API) authenticate(r *http.Request, scope string) (*caller, error) {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, problem("unauthorized", "send an access token of this authserver as Authorization: Bearer")
	}
	claims, err := a.verifier.Verify(r.Context(), strings.TrimSpace(token))
	if err != nil {
		detail := "the access token is invalid"
		switch {
		case errors.Is(err, verify.ErrExpired):
			detail = "the access token has expired"
		case errors.Is(err, verify.ErrAudience):
			detail = "the access token is not meant for this issuer's APIs: its audience must include the issuer"
		}
		return nil, problem("unauthorized", detail).withCause(err)
	}
	if claims.JTI != "" {
		ctx, cancel := a.storeCtx(r)
		revoked, err := a.opts.Store.IsRevoked(ctx, claims.JTI, a.opts.Now())
		cancel()
		if err != nil {
			return nil, storeProblem(err)
		}
		if revoked {
			return nil, problem("unauthorized", "the access token has been revoked")
		}
	}
	c := &caller{ClientID: claims.ClientID, Scopes: claims.Scopes}
	isClient := claims.ClientID != "" && claims.Subject == claims.ClientID
	if scope == ScopeAccount {
		if isClient || claims.Subject == "" {
			return nil, problem("wrong-token-kind", "the account API takes a signed-in user's access token, not a client's")
		}
		c.UserID = claims.Subject
	} else if !isClient {
		return nil, problem("wrong-token-kind", "the admin API takes a client_credentials access token, not a user's")
	}
	if !claims.HasScope(scope) {
		return nil, problem("insufficient-scope", "this route requires the scope "+scope)
	}
	return c, nil
}
