package adminapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/oauthkit/authserver/authserver"
)

// profileJSON is the signed-in user's own view of itself.
type profileJSON struct {
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Claims map[string]string `json:"claims"`
}

// accountUser loads the caller's own user; a deleted user's token that
// is still valid finds nothing.
func (a *API) accountUser(r *http.Request, c *caller) (string, error) {
	ctx, cancel := a.storeCtx(r)
	defer cancel()
	u, err := a.opts.Users.GetByID(ctx, c.UserID)
	if err != nil {
		return "", userProblem(err)
	}
	if u.Disabled {
		return "", problem("unauthorized", "the user is disabled")
	}
	return u.Name, nil
}

func (a *API) profile(w http.ResponseWriter, r *http.Request, c *caller) error {
	ctx, cancel := a.storeCtx(r)
	defer cancel()
	u, err := a.opts.Users.GetByID(ctx, c.UserID)
	if err != nil {
		return userProblem(err)
	}
	if u.Disabled {
		return problem("unauthorized", "the user is disabled")
	}
	claims := u.Claims
	if claims == nil {
		claims = map[string]string{}
	}
	writeJSON(w, http.StatusOK, profileJSON{ID: u.ID, Name: u.Name, Claims: claims})
	return nil
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePasswordJSON is the answer to a password change: the sessions it
// ended and the tokens of the session that continues the caller's.
type changePasswordJSON struct {
	SessionsRevoked int    `json:"sessions_revoked"`
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	Scope           string `json:"scope,omitempty"`
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req changePasswordRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.CurrentPassword == "" || req.NewPassword == "" {
		return problem("invalid-user", "current_password and new_password are required")
	}
	res, err := a.opts.Accounts.ChangeOwnPassword(r, c.ClientID, c.UserID, req.CurrentPassword, req.NewPassword, c.Scopes)
	var oe *authserver.Error
	switch {
	case errors.As(err, &oe) && oe.Status == http.StatusTooManyRequests:
		p := problem("locked-out", "too many failed attempts, retry later")
		p.RetryAfter = oe.RetryAfter
		a.audit.Warn("password change refused", "event", "account_password_change_failed", "client_id", c.ClientID, "user_id", c.UserID, "reason", "locked_out")
		return p
	case errors.As(err, &oe) && oe.Status == http.StatusBadRequest:
		a.audit.Warn("password change refused", "event", "account_password_change_failed", "client_id", c.ClientID, "user_id", c.UserID, "reason", "wrong_password")
		return problem("wrong-password", "the current password is wrong")
	case errors.As(err, &oe) && oe.Status == http.StatusServiceUnavailable:
		p := problem("unavailable", "the service is busy, retry later").withCause(err)
		p.RetryAfter = oe.RetryAfter
		return p
	case errors.Is(err, authserver.ErrUnknownClient):
		return problem("unauthorized", "the token's client is no longer configured").withCause(err)
	case err != nil && res.AccessToken == "":
		return userProblem(err)
	case err != nil:
		// Changed, but the replacement session could not be stored: the
		// caller signs in again with the new password.
		a.log.Warn("password changed without a new session", "user_id", c.UserID, "error", err)
	}
	a.audit.Info("own password changed", "event", "account_password_changed", "client_id", c.ClientID, "user_id", c.UserID, "sessions_revoked", res.Revoked)
	writeJSON(w, http.StatusOK, changePasswordJSON{
		SessionsRevoked: res.Revoked, AccessToken: res.AccessToken, TokenType: "Bearer",
		ExpiresIn: res.ExpiresIn, RefreshToken: res.RefreshToken, Scope: strings.Join(res.Scope, " "),
	})
	return nil
}

func (a *API) ownSessions(w http.ResponseWriter, r *http.Request, c *caller) error {
	name, err := a.accountUser(r, c)
	if err != nil {
		return err
	}
	fams, err := a.opts.Users.Sessions(r.Context(), name)
	if err != nil {
		return sessionProblem(err)
	}
	writeJSON(w, http.StatusOK, toSessions(fams))
	return nil
}

func (a *API) logoutAll(w http.ResponseWriter, r *http.Request, c *caller) error {
	name, err := a.accountUser(r, c)
	if err != nil {
		return err
	}
	n, err := a.opts.Users.RevokeSessions(r.Context(), name)
	if err != nil {
		return sessionProblem(err)
	}
	a.audit.Info("own sessions revoked", "event", "account_sessions_revoked", "client_id", c.ClientID, "user_id", c.UserID, "count", n)
	writeJSON(w, http.StatusOK, revokedJSON{n})
	return nil
}

func (a *API) logoutOne(w http.ResponseWriter, r *http.Request, c *caller) error {
	name, err := a.accountUser(r, c)
	if err != nil {
		return err
	}
	family := r.PathValue("family")
	if err := a.opts.Users.RevokeSession(r.Context(), name, family); err != nil {
		return sessionProblem(err)
	}
	a.audit.Info("own session revoked", "event", "account_session_revoked", "client_id", c.ClientID, "user_id", c.UserID, "family", family)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
