package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/oauthkit/authserver/authserver/password"
	"github.com/oauthkit/authserver/authserver/store"
)

// ErrPrecondition reports that a conditional change found the user other
// than the version the caller named (If-Match): someone else changed it.
var ErrPrecondition = errors.New("the user changed since it was read")

// ErrNotOwnSession reports a family that is not the named user's.
var ErrNotOwnSession = errors.New("no such session of this user")

// MaxUsersPage is the largest page that Page returns.
const MaxUsersPage = 500

// checkClaims refuses claim names the token keeps for itself.
func checkClaims(claims map[string]string) error {
	for k := range claims {
		if k == "" || IsReservedClaim(k) {
			return fmt.Errorf("%w: claim %q is reserved for the token itself", ErrInvalidUser, k)
		}
	}
	return nil
}

// AddHashed creates a user whose password is already hashed, in a format
// password.Acceptable takes (an app migrating its users, say), and
// returns it.
func (u *Users) AddHashed(ctx context.Context, name, hash string, claims map[string]string, disabled bool) (store.User, error) {
	if err := checkName(name); err != nil {
		return store.User{}, err
	}
	if !password.Acceptable(hash) {
		return store.User{}, fmt.Errorf("%w: password_hash is not a hash in a supported format", ErrInvalidUser)
	}
	if err := checkClaims(claims); err != nil {
		return store.User{}, err
	}
	return u.create(ctx, name, hash, claims, disabled)
}

// create stores a new user with a fresh id.
func (u *Users) create(ctx context.Context, name, hash string, claims map[string]string, disabled bool) (store.User, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return store.User{}, fmt.Errorf("add user: %w", err)
	}
	user := store.User{
		ID: "u_" + b64url.EncodeToString(id), Name: name, PasswordHash: hash, Disabled: disabled,
		Claims: claims, Created: u.now().UTC().Truncate(time.Second),
	}
	if err := u.store.CreateUser(ctx, user); err != nil {
		return store.User{}, fmt.Errorf("add user %s: %w", name, err)
	}
	return user, nil
}

// GetByID returns the user whose id (the sub of its tokens) is id.
func (u *Users) GetByID(ctx context.Context, id string) (store.User, error) {
	return u.store.GetUserByID(ctx, id)
}

// Page returns at most limit users (1 to MaxUsersPage) named after after,
// ordered by name; the last one's name is the cursor of the next page.
func (u *Users) Page(ctx context.Context, after string, limit int) ([]store.User, error) {
	limit = min(max(limit, 1), MaxUsersPage)
	return u.store.ListUsersAfter(ctx, after, limit)
}

// ETag returns the entity tag of a user's state: it changes with every
// change of its claims, password, or disabled state (the latter two raise
// its credential version), and with its re-creation under the same name.
func ETag(user store.User) string {
	h := sha256.New()
	for _, s := range []string{user.ID, user.Name, strconv.FormatBool(user.Disabled), strconv.FormatUint(user.CredentialVersion, 10)} {
		h.Write([]byte(strconv.Itoa(len(s)) + ":" + s))
	}
	for _, k := range slices.Sorted(maps.Keys(user.Claims)) {
		v := user.Claims[k]
		h.Write([]byte(strconv.Itoa(len(k)) + ":" + k + strconv.Itoa(len(v)) + ":" + v))
	}
	return `"` + b64url.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// matchETag returns the store check of an If-Match value: nil (any
// user) for "" and "*", else one that refuses a user whose ETag is
// another with ErrPrecondition.
func matchETag(ifMatch string) func(store.User) error {
	if ifMatch == "" || ifMatch == "*" {
		return nil
	}
	return func(cur store.User) error {
		if ETag(cur) != ifMatch {
			return ErrPrecondition
		}
		return nil
	}
}

// UpdateClaims replaces the claims of the named user if its ETag is still
// ifMatch ("*" or empty: whatever it is), in one store step, so that of
// two writers that read the same version only one succeeds; the other
// gets ErrPrecondition. It returns the user as updated.
func (u *Users) UpdateClaims(ctx context.Context, name string, claims map[string]string, ifMatch string) (store.User, error) {
	if err := checkClaims(claims); err != nil {
		return store.User{}, err
	}
	check := matchETag(ifMatch)
	if check == nil {
		check = func(store.User) error { return nil }
	}
	user, err := u.store.UpdateClaims(ctx, name, claims, check)
	if err != nil {
		return store.User{}, fmt.Errorf("update claims of %s: %w", name, err)
	}
	return user, nil
}

// Sessions returns the live refresh-token families of the named user,
// oldest first.
func (u *Users) Sessions(ctx context.Context, name string) ([]store.Family, error) {
	user, err := u.store.GetUser(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("find user %s: %w", name, err)
	}
	return u.store.ListFamilies(ctx, user.ID, u.now())
}

// RevokeSession revokes one family of the named user; ErrNotOwnSession
// if it is not a live family of that user, so that an id cannot be used
// to revoke another user's session.
func (u *Users) RevokeSession(ctx context.Context, name, familyID string) error {
	user, err := u.store.GetUser(ctx, name)
	if err != nil {
		return fmt.Errorf("find user %s: %w", name, err)
	}
	f, err := u.store.GetFamily(ctx, familyID, u.now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.UserID != user.ID) {
		return fmt.Errorf("revoke session %s: %w", familyID, ErrNotOwnSession)
	}
	if err != nil {
		return fmt.Errorf("revoke session %s: %w", familyID, err)
	}
	return u.store.RevokeFamily(ctx, familyID)
}

// RevokeSessions revokes every family of the named user ("log out
// everywhere") and returns how many there were.
func (u *Users) RevokeSessions(ctx context.Context, name string) (int, error) {
	user, err := u.store.GetUser(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("find user %s: %w", name, err)
	}
	return u.store.RevokeUserFamilies(ctx, user.ID)
}

// RevokeFamily revokes one family, whoever's it is (an operator's
// `sessions revoke --family`); no error if there is none.
func (u *Users) RevokeFamily(ctx context.Context, familyID string) error {
	return u.store.RevokeFamily(ctx, familyID)
}
