package authserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/oauthkit/authserver/authserver/password"
	"github.com/oauthkit/authserver/authserver/store"
)

// MinPasswordLen is the shortest password Users accepts.
const MinPasswordLen = 8

// Users administers resource owners: the CLI's `users` commands and the
// password grant use it. A password change, a disable and a delete also
// revoke every refresh-token family of the user.
type Users struct {
	store  store.Store
	hasher *password.Hasher
	now    func() time.Time
}

// NewUsers returns the user administration over st.
func NewUsers(st store.Store, hasher *password.Hasher, now func() time.Time) *Users {
	if now == nil {
		now = time.Now
	}
	return &Users{store: st, hasher: hasher, now: now}
}

// ErrInvalidUser reports a user name, password or claim that Users
// refuses; the message says which.
var ErrInvalidUser = errors.New("invalid user")

func checkName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("%w: name must be 1 to 128 characters", ErrInvalidUser)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("%w: name must not contain spaces or control characters", ErrInvalidUser)
		}
	}
	return nil
}

func checkPassword(pw string) error {
	if len(pw) < MinPasswordLen {
		return fmt.Errorf("%w: password must be at least %d characters", ErrInvalidUser, MinPasswordLen)
	}
	if len(pw) > 1024 {
		return fmt.Errorf("%w: password must be at most 1024 bytes", ErrInvalidUser)
	}
	return nil
}

// ParseClaim parses a `--claim k=v` argument.
func ParseClaim(kv string) (name, value string, err error) {
	name, value, ok := strings.Cut(kv, "=")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%w: claim %q must be name=value", ErrInvalidUser, kv)
	}
	if IsReservedClaim(name) {
		return "", "", fmt.Errorf("%w: claim %q is reserved for the token itself", ErrInvalidUser, name)
	}
	return name, value, nil
}

// Add creates a user and returns it; its ID is the sub of its tokens.
func (u *Users) Add(ctx context.Context, name, pw string, claims map[string]string) (store.User, error) {
	return u.AddUser(ctx, name, pw, claims, false)
}

// AddUser creates a user, disabled if disabled is set, and returns it.
func (u *Users) AddUser(ctx context.Context, name, pw string, claims map[string]string, disabled bool) (store.User, error) {
	if err := checkName(name); err != nil {
		return store.User{}, err
	}
	if err := checkPassword(pw); err != nil {
		return store.User{}, err
	}
	if err := checkClaims(claims); err != nil {
		return store.User{}, err
	}
	hash, err := u.hasher.Hash(ctx, pw)
	if err != nil {
		return store.User{}, fmt.Errorf("add user: %w", err)
	}
	return u.create(ctx, name, hash, claims, disabled)
}

// SetPasswordHash replaces a user's password with an already-hashed one
// (see AddHashed) and logs it out everywhere, as SetPassword does, if
// the user's ETag is still ifMatch (see SetPasswordIf).
func (u *Users) SetPasswordHash(ctx context.Context, name, hash, ifMatch string) (revoked int, err error) {
	if !password.Acceptable(hash) {
		return 0, fmt.Errorf("%w: password_hash is not a hash in a supported format", ErrInvalidUser)
	}
	n, err := u.store.SetPasswordIf(ctx, name, hash, matchETag(ifMatch))
	if err != nil {
		return 0, fmt.Errorf("set password of %s: %w", name, err)
	}
	return n, nil
}

// SetPassword changes a user's password and logs it out everywhere, in
// one store operation, so that no login made with the old password, even
// one in flight, keeps a session.
func (u *Users) SetPassword(ctx context.Context, name, pw string) (revoked int, err error) {
	return u.SetPasswordIf(ctx, name, pw, "")
}

// SetPasswordIf is SetPassword if the user's ETag is still ifMatch (""
// or "*": whatever it is), checked in the store operation that changes
// it; ErrPrecondition, changing nothing, otherwise.
func (u *Users) SetPasswordIf(ctx context.Context, name, pw, ifMatch string) (revoked int, err error) {
	if err := checkPassword(pw); err != nil {
		return 0, err
	}
	hash, err := u.hasher.Hash(ctx, pw)
	if err != nil {
		return 0, fmt.Errorf("set password: %w", err)
	}
	n, err := u.store.SetPasswordIf(ctx, name, hash, matchETag(ifMatch))
	if err != nil {
		return 0, fmt.Errorf("set password of %s: %w", name, err)
	}
	return n, nil
}

// SetDisabled disables (logging it out everywhere, in the same store
// operation) or enables a user.
func (u *Users) SetDisabled(ctx context.Context, name string, disabled bool) (revoked int, err error) {
	return u.SetDisabledIf(ctx, name, disabled, "")
}

// SetDisabledIf is SetDisabled if the user's ETag is still ifMatch, as
// SetPasswordIf.
func (u *Users) SetDisabledIf(ctx context.Context, name string, disabled bool, ifMatch string) (revoked int, err error) {
	n, err := u.store.SetDisabledIf(ctx, name, disabled, matchETag(ifMatch))
	if err != nil {
		return 0, fmt.Errorf("set disabled of %s: %w", name, err)
	}
	return n, nil
}

// Delete removes a user and every family it had, in one store operation.
func (u *Users) Delete(ctx context.Context, name string) (revoked int, err error) {
	return u.DeleteIf(ctx, name, "")
}

// DeleteIf is Delete if the user's ETag is still ifMatch, as
// SetPasswordIf.
func (u *Users) DeleteIf(ctx context.Context, name, ifMatch string) (revoked int, err error) {
	n, err := u.store.DeleteUserIf(ctx, name, matchETag(ifMatch))
	if err != nil {
		return 0, fmt.Errorf("delete user %s: %w", name, err)
	}
	return n, nil
}

// Unlock forgets the failed logins counted against a user name, ending its
// lockout before the window has passed. Per-IP counters are untouched.
func (u *Users) Unlock(ctx context.Context, name string) error {
	if err := u.store.ResetFailures(ctx, userLockoutKey(name)); err != nil {
		return fmt.Errorf("unlock %s: %w", name, err)
	}
	return nil
}

// List returns every user, ordered by name.
func (u *Users) List(ctx context.Context) ([]store.User, error) {
	return u.store.ListUsers(ctx)
}

// Get returns the named user.
func (u *Users) Get(ctx context.Context, name string) (store.User, error) {
	return u.store.GetUser(ctx, name)
}
