package adminapi

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/store"
)

// userJSON is a user as the APIs show it: never its password hash.
type userJSON struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Disabled bool              `json:"disabled"`
	Claims   map[string]string `json:"claims"`
	Created  string            `json:"created"`
}

func toJSON(u store.User) userJSON {
	claims := u.Claims
	if claims == nil {
		claims = map[string]string{}
	}
	return userJSON{ID: u.ID, Name: u.Name, Disabled: u.Disabled, Claims: claims, Created: stamp(u.Created)}
}

// writeUser answers a user with its ETag.
func writeUser(w http.ResponseWriter, status int, u store.User) {
	w.Header().Set("ETag", authserver.ETag(u))
	writeJSON(w, status, toJSON(u))
}

// userProblem maps the errors of the user service.
func userProblem(err error) error {
	switch {
	case errors.Is(err, authserver.ErrInvalidUser):
		return problem("invalid-user", err.Error()).withCause(err)
	case errors.Is(err, store.ErrAlreadyExists):
		return problem("already-exists", "a user of this name exists").withCause(err)
	case errors.Is(err, store.ErrNotFound):
		return problem("not-found", "no such user").withCause(err)
	case errors.Is(err, authserver.ErrPrecondition):
		return problem("precondition-failed", "the user changed since it was read: read it again").withCause(err)
	}
	return storeProblem(err)
}

// userByID loads the user that the {id} of the path names.
func (a *API) userByID(r *http.Request) (store.User, error) {
	ctx, cancel := a.storeCtx(r)
	defer cancel()
	u, err := a.opts.Users.GetByID(ctx, r.PathValue("id"))
	if err != nil {
		return store.User{}, userProblem(err)
	}
	return u, nil
}

type createUserRequest struct {
	Name         string            `json:"name"`
	Password     *string           `json:"password"`
	PasswordHash *string           `json:"password_hash"`
	Claims       map[string]string `json:"claims"`
	Disabled     bool              `json:"disabled"`
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req createUserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if (req.Password == nil) == (req.PasswordHash == nil) {
		return problem("invalid-user", "give exactly one of password and password_hash")
	}
	var (
		u   store.User
		err error
	)
	if req.Password != nil {
		u, err = a.opts.Users.AddUser(r.Context(), req.Name, *req.Password, req.Claims, req.Disabled)
	} else {
		u, err = a.opts.Users.AddHashed(r.Context(), req.Name, *req.PasswordHash, req.Claims, req.Disabled)
	}
	if err != nil {
		return userProblem(err)
	}
	a.audit.Info("user created", "event", "user_created", "by", "admin_api", "client_id", c.ClientID, "user_id", u.ID, "user", u.Name, "prehashed", req.PasswordHash != nil)
	w.Header().Set("Location", "/admin/v1/users/"+u.ID)
	writeUser(w, http.StatusCreated, u)
	return nil
}

// usersPage is a page of the user list.
type usersPage struct {
	Users      []userJSON `json:"users"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, _ *caller) error {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > authserver.MaxUsersPage {
			return problem("malformed-request", "limit must be 1 to "+strconv.Itoa(authserver.MaxUsersPage))
		}
		limit = n
	}
	after := ""
	if s := q.Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return problem("invalid-cursor", "give back the next_cursor of the previous page")
		}
		after = string(b)
	}
	ctx, cancel := a.storeCtx(r)
	defer cancel()
	users, err := a.opts.Users.Page(ctx, after, limit)
	if err != nil {
		return storeProblem(err)
	}
	page := usersPage{Users: make([]userJSON, len(users))}
	for i, u := range users {
		page.Users[i] = toJSON(u)
	}
	if len(users) == limit {
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(users[len(users)-1].Name))
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, _ *caller) error {
	u, err := a.userByID(r)
	if err != nil {
		return err
	}
	writeUser(w, http.StatusOK, u)
	return nil
}

func (a *API) getUserByName(w http.ResponseWriter, r *http.Request, _ *caller) error {
	ctx, cancel := a.storeCtx(r)
	defer cancel()
	u, err := a.opts.Users.Get(ctx, r.PathValue("name"))
	if err != nil {
		return userProblem(err)
	}
	writeUser(w, http.StatusOK, u)
	return nil
}

// ifMatch returns the If-Match of a user write: the ETag of the user as
// the caller read it, or "*" for whatever is there. Every user write
// requires one (428 without), and the store checks it in the step that
// makes the change, so that of two writers that read one version, one
// wins and the other gets 412: a lost update is impossible.
func ifMatch(r *http.Request) (string, error) {
	m := r.Header.Get("If-Match")
	if m == "" {
		return "", problem("precondition-required", "send the ETag of the user as If-Match (or * to change whatever is there)")
	}
	return m, nil
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	u, err := a.userByID(r)
	if err != nil {
		return err
	}
	n, err := a.opts.Users.DeleteIf(r.Context(), u.Name, match)
	if err != nil {
		return userProblem(err)
	}
	a.audit.Info("user deleted", "event", "user_deleted", "by", "admin_api", "client_id", c.ClientID, "user_id", u.ID, "sessions_revoked", n)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type claimsRequest struct {
	Claims map[string]string `json:"claims"`
}

func (a *API) updateClaims(w http.ResponseWriter, r *http.Request, c *caller) error {
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	var req claimsRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	u, err := a.userByID(r)
	if err != nil {
		return err
	}
	u, err = a.opts.Users.UpdateClaims(r.Context(), u.Name, req.Claims, match)
	if err != nil {
		return userProblem(err)
	}
	a.audit.Info("user claims updated", "event", "user_claims_updated", "by", "admin_api", "client_id", c.ClientID, "user_id", u.ID)
	writeUser(w, http.StatusOK, u)
	return nil
}

type passwordRequest struct {
	Password     *string `json:"password"`
	PasswordHash *string `json:"password_hash"`
}

// revokedJSON reports how many sessions a change ended.
type revokedJSON struct {
	SessionsRevoked int `json:"sessions_revoked"`
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request, c *caller) error {
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	var req passwordRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if (req.Password == nil) == (req.PasswordHash == nil) {
		return problem("invalid-user", "give exactly one of password and password_hash")
	}
	u, err := a.userByID(r)
	if err != nil {
		return err
	}
	var n int
	if req.Password != nil {
		n, err = a.opts.Users.SetPasswordIf(r.Context(), u.Name, *req.Password, match)
	} else {
		n, err = a.opts.Users.SetPasswordHash(r.Context(), u.Name, *req.PasswordHash, match)
	}
	if err != nil {
		return userProblem(err)
	}
	a.audit.Info("user password changed", "event", "user_password_changed", "by", "admin_api", "client_id", c.ClientID, "user_id", u.ID, "sessions_revoked", n)
	writeJSON(w, http.StatusOK, revokedJSON{n})
	return nil
}

func (a *API) disable(w http.ResponseWriter, r *http.Request, c *caller) error {
	return a.setDisabled(w, r, c, true)
}

func (a *API) enable(w http.ResponseWriter, r *http.Request, c *caller) error {
	return a.setDisabled(w, r, c, false)
}

func (a *API) setDisabled(w http.ResponseWriter, r *http.Request, c *caller, disabled bool) error {
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	u, err := a.userByID(r)
	if err != nil {
		return err
	}
	n, err := a.opts.Users.SetDisabledIf(r.Context(), u.Name, disabled, match)
	if err != nil {
		return userProblem(err)
	}
	event, msg := "user_enabled", "user enabled"
	if disabled {
		event, msg = "user_disabled", "user disabled"
	}
	a.audit.Info(msg, "event", event, "by", "admin_api", "client_id", c.ClientID, "user_id", u.ID, "sessions_revoked", n)
	writeJSON(w, http.StatusOK, revokedJSON{n})
	return nil
}

func (a *API) unlock(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.userByID(r)
	if err != nil {
		return err
	}
	if err := a.opts.Users.Unlock(r.Context(), u.Name); err != nil {
		return userProblem(err)
	}
	a.audit.Info("user unlocked", "event", "user_unlocked", "by", "admin_api", "client_id", c.ClientID, "user_id", u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
