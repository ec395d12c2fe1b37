package authserver

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/oauthkit/authserver/authserver/store"
)

// tokenResponse is the successful token response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string
	ExpiresIn    int64
	RefreshToken string
	Scope        []string
}

func (t *tokenResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"access_token":`...)
	b = appendString(b, t.AccessToken)
	b = append(b, `,"token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, t.ExpiresIn, 10)
	if t.RefreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendString(b, t.RefreshToken)
	}
	if len(t.Scope) > 0 {
		b = append(b, `,"scope":`...)
		b = appendString(b, joinScope(t.Scope))
	}
	return append(b, "}\n"...)
}

func writeToken(w http.ResponseWriter, t *tokenResponse) {
	w.Header().Set("Content-Type", "application/json")
	noStore(w)
	w.Write(t.appendJSON(make([]byte, 0, 1024+len(t.AccessToken))))
}

// noStore marks a response that holds or concerns credentials as
// uncacheable (RFC 6749 §5.1).
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	grant, ok := p["grant_type"]
	if !ok || grant == "" {
		return invalidRequest("missing grant_type")
	}
	client, err := s.clients.authenticate(r, p)
	if err != nil {
		return err
	}
	switch grant {
	case GrantPassword, GrantRefreshToken, GrantClientCredentials, GrantAuthorizationCode:
	default:
		return oauthErr(oerrors.ErrUnsupportedGrantType, "grant_type must be authorization_code, password, refresh_token or client_credentials")
	}
	if err := checkOrigin(r, client); err != nil {
		return err
	}
	if !client.Allows(grant) {
		return oauthErr(oerrors.ErrUnauthorizedClient, "the client may not use this grant type")
	}
	var resp *tokenResponse
	switch grant {
	case GrantPassword:
		resp, err = s.passwordGrant(r, client, p)
	case GrantAuthorizationCode:
		resp, err = s.authorizationCodeGrant(r, client, p)
	case GrantRefreshToken:
		resp, err = s.refreshGrant(r, client, p)
	case GrantClientCredentials:
		resp, err = s.clientCredentialsGrant(client, p)
	}
	if err != nil {
		return err
	}
	s.metrics.issued.WithLabelValues(grant, client.ID).Inc()
	writeToken(w, resp)
	return nil
}

func (s *Server) audience(c *Client) []string {
	if len(c.Audience) > 0 {
		return c.Audience
	}
	return s.opts.Audience
}

// sign issues an access token for claims of client cl, with iat and exp
// set from issuedAt and the claims of cl's token profile.
func (s *Server) sign(cl *Client, c *accessClaims, issuedAt time.Time) (string, error) {
	c.Issuer = s.opts.Issuer
	c.Profile = cl.TokenProfile
	c.IssuedAt = issuedAt.Unix()
	c.Expiry = issuedAt.Add(s.opts.AccessTTL).Unix()
	payload := c.appendJSON(make([]byte, 0, 512))
	tok, err := s.opts.Signer.Sign(payload)
	if err != nil {
		return "", withCause(oauthErr(oerrors.ErrTemporarilyUnavailable, "no signing key available"), err)
	}
	return tok, nil
}

func (s *Server) clientCredentialsGrant(c *Client, p params) (*tokenResponse, error) {
	scope, err := requestScope(p, c.Scopes)
	if err != nil {
		return nil, err
	}
	jti, err := newJTI()
	if err != nil {
		return nil, err
	}
	claims := accessClaims{Subject: c.ID, Audience: s.audience(c), JTI: jti, ClientID: c.ID, Scope: scope}
	tok, err := s.sign(c, &claims, s.now())
	if err != nil {
		return nil, err
	}
	s.audit.Info("token issued", "event", "token_issued", "grant", GrantClientCredentials, "client_id", c.ID, "jti", jti)
	return &tokenResponse{AccessToken: tok, ExpiresIn: s.ttlSeconds(), Scope: scope}, nil
}

func (s *Server) ttlSeconds() int64 { return int64(s.opts.AccessTTL / time.Second) }

func (s *Server) passwordGrant(r *http.Request, c *Client, p params) (*tokenResponse, error) {
	username, password := p["username"], p["password"]
	if username == "" || password == "" {
		return nil, invalidRequest("username and password are required")
	}
	scope, err := requestScope(p, c.Scopes)
	if err != nil {
		return nil, err
	}
	user, err := s.login(r, c, username, password)
	if err != nil {
		return nil, err
	}
	familyID, err := newFamilyID()
	if err != nil {
		return nil, err
	}
	return s.issueUserTokens(r, c, user, scope, GrantPassword, familyID)
}

// issueUserTokens answers a user's login by grant (password or
// authorization_code): an access token and, for a client that may
// refresh, a refresh token of the new family familyID.
func (s *Server) issueUserTokens(r *http.Request, c *Client, user store.User, scope []string, grant, familyID string) (*tokenResponse, error) {
	if !c.Allows(GrantRefreshToken) {
		return s.accessTokenOnly(c, user, scope, grant)
	}
	now := s.now()
	rt, err := s.refresh.issue(familyID, 0)
	if err != nil {
		return nil, err
	}
	jti, err := newJTI()
	if err != nil {
		return nil, err
	}
	claims := accessClaims{Subject: user.ID, Audience: s.audience(c), JTI: jti, ClientID: c.ID, Scope: scope, Extra: user.Claims}
	tok, err := s.sign(c, &claims, now)
	if err != nil {
		return nil, err
	}
	fam := store.Family{
		ID: familyID, UserID: user.ID, ClientID: c.ID, Scope: scope, Claims: user.Claims,
		Created: now, LastUsed: now, IdleTTL: s.opts.RefreshIdleTTL, ExpiresAt: now.Add(s.opts.RefreshMaxTTL),
		CurrentHash: rt.hash(), CredentialVersion: user.CredentialVersion,
	}
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	switch err := s.opts.Store.CreateFamily(ctx, fam); {
	case errors.Is(err, store.ErrStaleCredentials):
		// The password was changed, or the user disabled or deleted, while
		// this login checked the old one.
		s.audit.Warn("login failed", "event", "login_failed", "client_id", c.ID, "user_id", user.ID, "reason", "credentials_changed")
		return nil, invalidGrant("invalid username or password")
	case err != nil:
		return nil, storeError(err)
	}
	s.auditLogin(grant, c, user, familyID)
	s.audit.Info("token issued", "event", "token_issued", "grant", grant, "client_id", c.ID, "user_id", user.ID, "jti", jti)
	return &tokenResponse{AccessToken: tok, ExpiresIn: s.ttlSeconds(), RefreshToken: rt.text, Scope: scope}, nil
}

// refreshGrant redeems a refresh token in one atomic store step. The
// successor and its sealed copy are made before the step, so that the step
// alone decides: the request that finds the presented token current
// installs its successor; concurrent or retried requests within the grace
// open the successor the winner installed and rebuild the very same
// response; anything later revokes the family.
func (s *Server) refreshGrant(r *http.Request, c *Client, p params) (*tokenResponse, error) {
	presented, ok := p["refresh_token"]
	if !ok || presented == "" {
		return nil, invalidRequest("missing refresh_token")
	}
	requested, err := parseScope(p["scope"])
	if err != nil {
		return nil, err
	}
	rt, err := s.refresh.parse(presented)
	if err != nil {
		return nil, invalidGrant("invalid refresh token")
	}
	next, err := s.refresh.issue(rt.familyID, rt.generation+1)
	if err != nil {
		return nil, err
	}
	sealed, err := rt.sealSuccessor(next)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	res, err := s.opts.Store.Redeem(ctx, store.Redemption{
		FamilyID: rt.familyID, ClientID: c.ID, Scope: requested,
		Generation: rt.generation, PresentedHash: rt.hash(),
		NewHash: next.hash(), SealedNext: sealed,
		Now: s.now(), Grace: s.opts.RefreshReuseGrace,
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, invalidGrant("refresh token expired or revoked")
	case err != nil:
		return nil, storeError(err)
	}
	fam := res.Family
	s.metrics.refresh.WithLabelValues(res.Outcome.String()).Inc()
	switch res.Outcome {
	case store.Rotated:
		s.audit.Info("refresh rotated", "event", "refresh_rotated", "family", fam.ID, "client_id", c.ID, "user_id", fam.UserID, "generation", fam.Generation)
	case store.Replayed:
		// The store replays only a request for the rotation's scope (as a
		// set): take it in the rotation's order, so that the token is the
		// very one the rotation returned.
		requested = fam.RotationScope
		next, err = s.refresh.openSuccessor(rt, fam.SealedNext)
		if err != nil {
			return nil, withCause(invalidGrant("invalid refresh token"), err)
		}
		s.audit.Info("refresh replayed within grace", "event", "refresh_replayed", "family", fam.ID, "client_id", c.ID, "user_id", fam.UserID)
	case store.Reused:
		s.metrics.reuse.Inc()
		s.audit.Warn("refresh token reuse detected, family revoked", "event", "refresh_reuse_detected", "family", fam.ID, "client_id", c.ID, "user_id", fam.UserID, "generation", rt.generation, "current_generation", fam.Generation)
		return nil, invalidGrant("refresh token already used; the session has been revoked")
	default:
		if res.Reason == store.ReasonScope {
			return nil, invalidScope("requested scope exceeds the scope of the refresh token")
		}
		if res.Reason == store.ReasonWrongClient {
			return nil, invalidGrant("refresh token was issued to another client")
		}
		return nil, invalidGrant("invalid refresh token")
	}
	scope := fam.Scope
	if len(requested) > 0 {
		scope = requested
	}
	scope = intersect(scope, c.Scopes)
	claims := accessClaims{Subject: fam.UserID, Audience: s.audience(c), JTI: jtiFor(next), ClientID: c.ID, Scope: scope, Extra: fam.Claims}
	tok, err := s.sign(c, &claims, fam.LastUsed)
	if err != nil {
		return nil, err
	}
	return &tokenResponse{AccessToken: tok, ExpiresIn: s.ttlSeconds(), RefreshToken: next.text, Scope: scope}, nil
}

// intersect keeps the scopes of granted the client still holds, so that a
// scope removed from a client's configuration stops being granted at its
// next refresh.
func intersect(granted, allowed []string) []string {
	out := make([]string, 0, len(granted))
	for _, s := range granted {
		if slices.Contains(allowed, s) {
			out = append(out, s)
		}
	}
	return out
}
