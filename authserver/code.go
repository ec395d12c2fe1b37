package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// authorizationCodeGrant redeems an authorization code (RFC 6749 §4.1.3,
// RFC 7636 §4.6). The store marks the code used in one step, recording
// the family this redemption will create; a second redemption learns that
// family and revokes it, since the code has leaked (RFC 6749 §10.5).
func (s *Server) authorizationCodeGrant(r *http.Request, c *Client, p params) (*tokenResponse, error) {
	code, verifier := p["code"], p["code_verifier"]
	if code == "" {
		return nil, invalidRequest("missing code")
	}
	if verifier == "" {
		return nil, invalidRequest("missing code_verifier (PKCE is required)")
	}
	if !isVerifier(verifier) {
		return nil, invalidRequest("code_verifier must be 43 to 128 unreserved characters")
	}
	familyID, err := newFamilyID()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(code))
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	ac, err := s.opts.Store.RedeemCode(ctx, sum[:], familyID, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, invalidGrant("authorization code invalid or expired")
	case errors.Is(err, store.ErrCodeUsed):
		if err := s.revokeCodeFamily(ctx, ac); err != nil {
			return nil, storeError(err)
		}
		s.audit.Warn("authorization code reused, family revoked", "event", "code_reuse_detected", "client_id", c.ID, "user_id", ac.UserID, "family", ac.FamilyID)
		return nil, invalidGrant("authorization code already used; the tokens issued for it have been revoked")
	case err != nil:
		return nil, storeError(err)
	}
	switch {
	case ac.ClientID != c.ID:
		return nil, invalidGrant("authorization code was issued to another client")
	case ac.RedirectURI != p["redirect_uri"]:
		return nil, invalidGrant("redirect_uri does not match the authorization request")
	case subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(ac.CodeChallenge)) != 1:
		return nil, invalidGrant("code_verifier does not match the code_challenge")
	}
	user, err := s.opts.Store.GetUser(ctx, ac.UserName)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, invalidGrant("the user can no longer sign in")
	case err != nil:
		return nil, storeError(err)
	case user.ID != ac.UserID || user.Disabled:
		return nil, invalidGrant("the user can no longer sign in")
	}
	// The family records the version of the login that made the code: a
	// password changed since refuses it in the store's own atomic step.
	user.CredentialVersion = ac.CredentialVersion
	resp, err := s.issueUserTokens(r, c, user, intersect(ac.Scope, c.Scopes), GrantAuthorizationCode, familyID)
	if err != nil {
		return nil, err
	}
	// A replay of the code that came before the family existed could not
	// revoke it: it left a mark, looked for only now that it exists.
	ctx, cancel = s.storeCtx(r)
	defer cancel()
	replayed, err := s.opts.Store.IsRevoked(ctx, codeFamilyMark(familyID), s.now())
	if err == nil && replayed {
		err = s.opts.Store.RevokeFamily(ctx, familyID)
		if err == nil {
			return nil, invalidGrant("authorization code already used; the tokens issued for it have been revoked")
		}
	}
	if err != nil {
		return nil, storeError(err)
	}
	return resp, nil
}

// codeFamilyMark names the mark a code replay leaves for the family the
// code's first redemption issues (among revoked token ids: it needs
// nothing more than an id with an end).
func codeFamilyMark(familyID string) string { return "code-family:" + familyID }

// revokeCodeFamily revokes the family issued for a code that was presented
// again (RFC 6749 §10.5). The first redemption may still be creating it,
// so a mark is left first, which that redemption checks once the family
// exists; whichever comes second revokes it.
func (s *Server) revokeCodeFamily(ctx context.Context, ac store.AuthCode) error {
	if ac.FamilyID == "" {
		return nil
	}
	if err := s.opts.Store.RevokeToken(ctx, codeFamilyMark(ac.FamilyID), s.now().Add(time.Minute)); err != nil {
		return err
	}
	return s.opts.Store.RevokeFamily(ctx, ac.FamilyID)
}

// auditLogin records the login that a token response completes: the
// password grant's own, or the redemption of a code whose login the login
// page already recorded.
func (s *Server) auditLogin(grant string, c *Client, user store.User, familyID string) {
	if grant == GrantAuthorizationCode {
		s.audit.Info("authorization code redeemed", "event", "code_redeemed", "user_id", user.ID, "client_id", c.ID, "family", familyID)
		return
	}
	s.audit.Info("login succeeded", "event", "login_succeeded", "user_id", user.ID, "client_id", c.ID, "family", familyID)
}
