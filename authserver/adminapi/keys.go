package adminapi

import (
	"errors"
	"net/http"

	"github.com/oauthkit/authserver/keys"
)

// keyJSON is a signing key as the admin API shows it: never key material.
type keyJSON struct {
	KID       string `json:"kid"`
	Algorithm string `json:"alg"`
	State     string `json:"state"`
	Created   string `json:"created"`
	Activates string `json:"activates,omitempty"`
	Retires   string `json:"retires,omitempty"`
}

type keysJSON struct {
	Keys []keyJSON `json:"keys"`
}

func (a *API) keyList() keysJSON {
	infos := a.opts.Keys.Keys()
	out := keysJSON{Keys: make([]keyJSON, len(infos))}
	for i, k := range infos {
		out.Keys[i] = keyJSON{
			KID: k.KID, Algorithm: k.Algorithm, State: k.State.String(),
			Created: stamp(k.Created), Activates: stamp(k.Activates), Retires: stamp(k.Retires),
		}
	}
	return out
}

func keyProblem(err error) error {
	switch {
	case errors.Is(err, keys.ErrUnknownKey):
		return problem("not-found", "no such key").withCause(err)
	case errors.Is(err, keys.ErrTransition), errors.Is(err, keys.ErrNoSuccessor), errors.Is(err, keys.ErrKeyReused):
		return problem("key-transition", err.Error()).withCause(err)
	}
	return storeProblem(err)
}

func (a *API) listKeys(w http.ResponseWriter, _ *http.Request, _ *caller) error {
	writeJSON(w, http.StatusOK, a.keyList())
	return nil
}

type rotateRequest struct {
	// Now makes the new key sign at once (an emergency) instead of after
	// keys.publish_ahead.
	Now bool `json:"now"`
}

func (a *API) rotateKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req rotateRequest
	if err := decodeOptional(w, r, &req); err != nil {
		return err
	}
	k, err := a.opts.Keys.Rotate(r.Context(), req.Now)
	if err != nil {
		return keyProblem(err)
	}
	a.audit.Info("key rotated", "event", "key_rotate_requested", "by", "admin_api", "client_id", c.ClientID, "kid", k.KID(), "now", req.Now)
	writeJSON(w, http.StatusCreated, a.keyList())
	return nil
}

func (a *API) retireKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	kid := r.PathValue("kid")
	if err := a.opts.Keys.Retire(r.Context(), kid); err != nil {
		return keyProblem(err)
	}
	a.audit.Info("key retired", "event", "key_retire_requested", "by", "admin_api", "client_id", c.ClientID, "kid", kid)
	writeJSON(w, http.StatusOK, a.keyList())
	return nil
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	kid := r.PathValue("kid")
	if err := a.opts.Keys.Revoke(r.Context(), kid); err != nil {
		return keyProblem(err)
	}
	a.audit.Warn("key revoked", "event", "key_revoke_requested", "by", "admin_api", "client_id", c.ClientID, "kid", kid)
	writeJSON(w, http.StatusOK, a.keyList())
	return nil
}
