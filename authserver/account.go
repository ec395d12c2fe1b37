package authserver

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/oauthkit/authserver/authserver/store"
)

// PasswordChange is the outcome of ChangeOwnPassword: how many sessions
// the change ended, and the tokens of the session that replaces the
// caller's own.
type PasswordChange struct {
	Revoked      int
	AccessToken  string
	RefreshToken string // empty when the client may not refresh
	ExpiresIn    int64
	Scope        []string
}

// ErrUnknownClient reports a client id that is not configured (any more).
var ErrUnknownClient = errors.New("unknown client")

// ChangeOwnPassword is a signed-in user's own password change, for the
// account API: the current password is checked under the lockout policy,
// as a login checks it (a wrong one is an *Error invalid_grant, a locked
// name an *Error with status 429); then the password changes and every
// session of the user ends, in one store step, and a new session for
// clientID and scope, made with the new credentials, keeps the caller
// signed in.
func (s *Server) ChangeOwnPassword(r *http.Request, clientID, userID, current, next string, scope []string) (PasswordChange, error) {
	rc, ok := s.clients.lookup(clientID)
	if !ok {
		return PasswordChange{}, fmt.Errorf("change own password: client %q: %w", clientID, ErrUnknownClient)
	}
	if err := checkPassword(next); err != nil {
		return PasswordChange{}, err
	}
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	user, err := s.opts.Store.GetUserByID(ctx, userID)
	if err != nil {
		return PasswordChange{}, fmt.Errorf("change own password: %w", err)
	}
	if _, err := s.login(r, rc, user.Name, current); err != nil {
		return PasswordChange{}, err
	}
	revoked, err := s.users.SetPassword(r.Context(), user.Name, next)
	if err != nil {
		return PasswordChange{}, err
	}
	if user, err = s.opts.Store.GetUser(ctx, user.Name); err != nil {
		return PasswordChange{}, fmt.Errorf("change own password: %w", err)
	}
	scope = intersect(scope, rc.Scopes)
	out := PasswordChange{Revoked: revoked, ExpiresIn: s.ttlSeconds(), Scope: scope}
	now := s.now()
	jti, err := newJTI()
	if err != nil {
		return PasswordChange{}, err
	}
	claims := accessClaims{Subject: user.ID, Audience: s.audience(rc), JTI: jti, ClientID: clientID, Scope: scope, Extra: user.Claims}
	if out.AccessToken, err = s.sign(rc, &claims, now); err != nil {
		return PasswordChange{}, err
	}
	if !rc.Allows(GrantRefreshToken) {
		return out, nil
	}
	familyID, err := newFamilyID()
	if err != nil {
		return PasswordChange{}, err
	}
	rt, err := s.refresh.issue(familyID, 0)
	if err != nil {
		return PasswordChange{}, err
	}
	err = s.opts.Store.CreateFamily(ctx, store.Family{
		ID: familyID, UserID: user.ID, ClientID: clientID, Scope: scope, Claims: user.Claims,
		Created: now, LastUsed: now, IdleTTL: s.opts.RefreshIdleTTL, ExpiresAt: now.Add(s.opts.RefreshMaxTTL),
		CurrentHash: rt.hash(), CredentialVersion: user.CredentialVersion,
	})
	if err != nil {
		// Changed again meanwhile, or the store failed: the password
		// change stands; the caller signs in again.
		return out, fmt.Errorf("change own password: new session: %w", err)
	}
	s.audit.Info("login succeeded", "event", "login_succeeded", "user_id", user.ID, "client_id", clientID, "family", familyID, "via", "password_change")
	out.RefreshToken = rt.text
	return out, nil
}

// Mount adds h to the main listener's routes at pattern, as
// Options.Mounts does, for handlers that need the Server itself (the
// account API calls ChangeOwnPassword). Call it before Handler.
func (s *Server) Mount(pattern string, h http.Handler) {
	m := make(map[string]http.Handler, len(s.opts.Mounts)+1)
	for p, mh := range s.opts.Mounts {
		m[p] = mh
	}
	m[pattern] = h
	s.opts.Mounts = m
}
