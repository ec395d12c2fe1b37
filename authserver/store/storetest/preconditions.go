package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/oauthkit/authserver/authserver/store"
)

// guardedChange is one of the user changes that take a precondition.
type guardedChange struct {
	name string
	run  func(s store.Store, user string, check func(store.User) error) (int, error)
	// apply returns the user as the change leaves it (nil: deleted).
	apply func(u store.User) *store.User
}

var guardedChanges = []guardedChange{
	{"set-password", func(s store.Store, user string, check func(store.User) error) (int, error) {
		return s.SetPasswordIf(context.Background(), user, "$argon2id$guarded", check)
	}, func(u store.User) *store.User { u.PasswordHash = "$argon2id$guarded"; return &u }},
	{"disable", func(s store.Store, user string, check func(store.User) error) (int, error) {
		return s.SetDisabledIf(context.Background(), user, true, check)
	}, func(u store.User) *store.User { u.Disabled = true; return &u }},
	{"enable", func(s store.Store, user string, check func(store.User) error) (int, error) {
		return s.SetDisabledIf(context.Background(), user, false, check)
	}, func(u store.User) *store.User { u.Disabled = false; return &u }},
	{"delete", func(s store.Store, user string, check func(store.User) error) (int, error) {
		return s.DeleteUserIf(context.Background(), user, check)
	}, func(store.User) *store.User { return nil }},
}

// sameVersion returns a check that passes only the user as read was: the
// same id, credential version and disabled state, as an ETag would.
func sameVersion(read store.User) func(store.User) error {
	return func(u store.User) error {
		if u.ID != read.ID || u.CredentialVersion != read.CredentialVersion || u.Disabled != read.Disabled {
			return errPrecondition
		}
		return nil
	}
}

// testGuardedChanges checks SetPasswordIf, SetDisabledIf and
// DeleteUserIf: a refusing check changes nothing (the user, its
// credential version and its sessions stay); a passing one, called with
// the user as stored, makes the change and revokes the sessions; a nil
// one passes every user.
func testGuardedChanges(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := liveBase()
	for i, c := range guardedChanges {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("guarded%d", i)
			mustCreateUser(t, s, newUser(name))
			before := mustGetUser(t, s, name)
			f := login("fam-"+name, before, now)
			mustCreateFamily(t, s, f)

			if _, err := c.run(s, name, func(store.User) error { return errPrecondition }); !errors.Is(err, errPrecondition) {
				t.Fatalf("refusing check: %v, want the check's error", err)
			}
			wantUser(t, s, before)
			if got := mustGetUser(t, s, name); got.CredentialVersion != before.CredentialVersion {
				t.Fatalf("refusing check raised the credential version to %d from %d", got.CredentialVersion, before.CredentialVersion)
			}
			f = mustRotate(t, s, f, now) // the family lives on

			var seen []store.User
			n, err := c.run(s, name, func(u store.User) error {
				seen = append(seen, u)
				return sameVersion(before)(u)
			})
			if err != nil || n != 1 {
				t.Fatalf("passing check: revoked %d, %v; want 1, nil", n, err)
			}
			if len(seen) == 0 || diffUser(seen[len(seen)-1], before) != "" {
				t.Fatalf("check saw %+v, want the user as stored", seen)
			}
			wantRedeemNotFound(t, s, f, now)
			after := c.apply(before)
			if after == nil {
				if _, err := s.GetUser(ctx, name); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("after delete: GetUser = %v, want ErrNotFound", err)
				}
			} else {
				wantUser(t, s, *after)
				if got := mustGetUser(t, s, name); got.CredentialVersion <= before.CredentialVersion {
					t.Fatalf("credential version %d, was %d; want it raised", got.CredentialVersion, before.CredentialVersion)
				}
				// The version read before is stale now.
				if _, err := c.run(s, name, sameVersion(before)); !errors.Is(err, errPrecondition) {
					t.Fatalf("stale check: %v, want the check's error", err)
				}
				if _, err := c.run(s, name, nil); err != nil {
					t.Fatalf("nil check: %v", err)
				}
			}
			if _, err := c.run(s, "nobody", func(store.User) error { return nil }); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown user: %v, want ErrNotFound", err)
			}
		})
	}
}

// testGuardedRace runs, for each guarded change, two writers that read
// the same version of a user and require it: a change of that kind and a
// password change (two password changes for the latter). Without the
// check in the change's atomic step both would succeed; exactly one
// must, and the other must be refused (or find the user deleted).
func testGuardedRace(t *testing.T, s store.Store) {
	password := guardedChanges[0]
	for i, c := range guardedChanges {
		t.Run(c.name, func(t *testing.T) {
			for round := range 5 {
				name := fmt.Sprintf("race%d-%d", i, round)
				u := newUser(name)
				u.Disabled = c.name == "enable"
				mustCreateUser(t, s, u)
				read := mustGetUser(t, s, name)
				var (
					wg   sync.WaitGroup
					errs = make([]error, 2)
				)
				for w, change := range []guardedChange{c, password} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, errs[w] = change.run(s, name, sameVersion(read))
					}()
				}
				wg.Wait()
				won := 0
				for w, err := range errs {
					switch {
					case err == nil:
						won++
					case errors.Is(err, errPrecondition), errors.Is(err, store.ErrNotFound) && c.name == "delete" && w == 1:
					default:
						t.Fatalf("round %d writer %d: %v", round, w, err)
					}
				}
				if won != 1 {
					t.Fatalf("round %d: %d writers won (%v), want exactly one", round, won, errs)
				}
			}
		})
	}
}
