package adminapi

import (
	"errors"
	"net/http"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/store"
)

// sessionJSON is a refresh-token family as the APIs show it.
type sessionJSON struct {
	ID            string   `json:"id"`
	ClientID      string   `json:"client_id"`
	Scope         []string `json:"scope"`
	Created       string   `json:"created"`
	LastRefreshed string   `json:"last_refreshed"`
	Expires       string   `json:"expires"`
}

type sessionsJSON struct {
	Sessions []sessionJSON `json:"sessions"`
}

func toSessions(fams []store.Family) sessionsJSON {
	out := sessionsJSON{Sessions: make([]sessionJSON, len(fams))}
	for i, f := range fams {
		scope := f.Scope
		if scope == nil {
			scope = []string{}
		}
		out.Sessions[i] = sessionJSON{
			ID: f.ID, ClientID: f.ClientID, Scope: scope,
			Created: stamp(f.Created), LastRefreshed: stamp(f.LastUsed), Expires: stamp(f.Expiry()),
		}
	}
	return out
}

func sessionProblem(err error) error {
	if errors.Is(err, authserver.ErrNotOwnSession) {
		return problem("not-found", "no such session of this user").withCause(err)
	}
	return userProblem(err)
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request, _ *caller) error {
	u, err := a.userByID(r)
	if err != nil {
		return err
	}
	fams, err := a.opts.Users.Sessions(r.Context(), u.Name)
	if err != nil {
		return sessionProblem(err)
	}
	writeJSON(w, http.StatusOK, toSessions(fams))
	return nil
}

func (a *API) revokeSessions(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.userByID(r)
	if err != nil {
		return err
	}
	n, err := a.opts.Users.RevokeSessions(r.Context(), u.Name)
	if err != nil {
		return sessionProblem(err)
	}
	a.audit.Info("user sessions revoked", "event", "user_sessions_revoked", "by", "admin_api", "client_id", c.ClientID, "user_id", u.ID, "count", n)
	writeJSON(w, http.StatusOK, revokedJSON{n})
	return nil
}

func (a *API) revokeSession(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.userByID(r)
	if err != nil {
		return err
	}
	family := r.PathValue("family")
	if err := a.opts.Users.RevokeSession(r.Context(), u.Name, family); err != nil {
		return sessionProblem(err)
	}
	a.audit.Info("family revoked", "event", "family_revoked", "by", "admin_api", "client_id", c.ClientID, "user_id", u.ID, "family", family)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
