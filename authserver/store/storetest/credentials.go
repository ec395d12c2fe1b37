package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// login stands for a password login that read u: a family recording u's
// credential version.
func login(id string, u store.User, created time.Time) store.Family {
	f := newFamily(id, u.ID, created)
	f.CredentialVersion = u.CredentialVersion
	return f
}

func mustGetUser(t *testing.T, s store.Store, name string) store.User {
	t.Helper()
	u, err := s.GetUser(context.Background(), name)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", name, err)
	}
	return u
}

// wantStale requires CreateFamily(f) to fail with ErrStaleCredentials and
// to leave no family behind.
func wantStale(t *testing.T, s store.Store, f store.Family, now time.Time) {
	t.Helper()
	if err := s.CreateFamily(context.Background(), f); !errors.Is(err, store.ErrStaleCredentials) {
		t.Fatalf("CreateFamily(%s) of credential version %d: error = %v, want ErrStaleCredentials", f.ID, f.CredentialVersion, err)
	}
	wantNoFamily(t, s, f.ID, now)
}

// wantRedeemNotFound requires a redemption of f's current token to find no
// family.
func wantRedeemNotFound(t *testing.T, s store.Store, f store.Family, now time.Time) {
	t.Helper()
	_, err := s.Redeem(context.Background(), rotation(f, now, time.Minute, "after-change"))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Redeem(%s) after the user changed: error = %v, want ErrNotFound", f.ID, err)
	}
}

// testCredentialChanges forces, one by one, the race of a login with each
// user change: the login reads the user, the change runs, then the login
// creates its family, which must be refused; a family created before the
// change is gone after it, for GetFamily and Redeem alike.
func testCredentialChanges(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	bobFamily := login("fam-bob", mustGetUser(t, s, "bob"), base)
	mustCreateFamily(t, s, bobFamily)

	steps := []struct {
		name    string
		change  func() (int, error)
		enabled bool // the user may log in after the change
	}{
		{"set-password", func() (int, error) { return s.SetPassword(ctx, "alice", "$argon2id$new") }, true},
		{"disable", func() (int, error) { return s.SetDisabled(ctx, "alice", true) }, false},
		{"enable", func() (int, error) { return s.SetDisabled(ctx, "alice", false) }, true},
		{"set-password-again", func() (int, error) { return s.SetPassword(ctx, "alice", "$argon2id$newer") }, true},
		{"delete", func() (int, error) { return s.DeleteUser(ctx, "alice") }, false},
	}
	now := base
	var live store.Family // alice's family made before the step, if any
	for i, step := range steps {
		now = now.Add(time.Second)
		before := mustGetUser(t, s, "alice")
		if step.name != "enable" {
			live = login(fmt.Sprintf("fam-%d-before", i), before, now)
			mustCreateFamily(t, s, live)
			live = mustRotate(t, s, live, now)
		}
		inFlight := login(fmt.Sprintf("fam-%d-in-flight", i), before, now)
		families, err := s.ListFamilies(ctx, alice.ID, now)
		if err != nil {
			t.Fatalf("ListFamilies: %v", err)
		}
		n, err := step.change()
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if n != len(families) {
			t.Errorf("%s revoked %d families, want %d", step.name, n, len(families))
		}
		wantStale(t, s, inFlight, now)
		wantNoFamily(t, s, live.ID, now)
		wantRedeemNotFound(t, s, live, now)
		if list, err := s.ListFamilies(ctx, alice.ID, now); err != nil || len(list) != 0 {
			t.Fatalf("%s: ListFamilies = %v, %v; want none", step.name, familyIDs(list), err)
		}
		if step.name == "delete" {
			wantStale(t, s, login("fam-after-delete", before, now), now)
			break
		}
		after := mustGetUser(t, s, "alice")
		if after.CredentialVersion <= before.CredentialVersion {
			t.Fatalf("%s: credential version %d, was %d; want it raised", step.name, after.CredentialVersion, before.CredentialVersion)
		}
		fresh := login(fmt.Sprintf("fam-%d-after", i), after, now)
		if !step.enabled {
			wantStale(t, s, fresh, now)
			continue
		}
		// A login with the new credentials is never touched.
		mustCreateFamily(t, s, fresh)
		mustRotate(t, s, fresh, now)
	}
	// Another user's family is untouched throughout.
	mustRotate(t, s, bobFamily, now)
}

// testHashUpgrade checks that UpgradePasswordHash replaces only the hash
// it was given, and revokes nothing.
func testHashUpgrade(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	alice := newUser("alice")
	mustCreateUser(t, s, alice)
	f := login("fam-1", mustGetUser(t, s, "alice"), base)
	mustCreateFamily(t, s, f)

	if err := s.UpgradePasswordHash(ctx, "alice", alice.PasswordHash, "$argon2id$upgraded"); err != nil {
		t.Fatalf("UpgradePasswordHash: %v", err)
	}
	alice.PasswordHash = "$argon2id$upgraded"
	wantUser(t, s, alice)
	if u := mustGetUser(t, s, "alice"); u.CredentialVersion != 0 {
		t.Fatalf("credential version after a hash upgrade = %d, want 0", u.CredentialVersion)
	}
	wantFamily(t, s, f, base)
	// A concurrent password change wins over an upgrade of the old hash.
	if _, err := s.SetPassword(ctx, "alice", "$argon2id$changed"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if err := s.UpgradePasswordHash(ctx, "alice", "$argon2id$upgraded", "$argon2id$upgraded-again"); err != nil {
		t.Fatalf("UpgradePasswordHash of a replaced hash: %v", err)
	}
	alice.PasswordHash = "$argon2id$changed"
	wantUser(t, s, alice)
	if err := s.UpgradePasswordHash(ctx, "nobody", "a", "b"); err != nil {
		t.Fatalf("UpgradePasswordHash of no user: %v", err)
	}
}

// testCredentialRace runs logins (read the user, then create a family)
// while the password changes, and requires that none made with the old
// credentials survives the change: every family of the user that exists
// afterwards records the new version, and every family a login made is
// either refused, or revoked, or of the new version.
func testCredentialRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	mustCreateUser(t, s, newUser("alice"))
	const workers, perWorker = 4, 25
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []store.Family
		start   = make(chan struct{})
		warm    = make(chan struct{}) // closed once each worker could have logged in
		once    sync.Once
	)
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range perWorker {
				u, err := s.GetUser(ctx, "alice")
				if err != nil {
					t.Errorf("GetUser: %v", err)
					return
				}
				f := login(fmt.Sprintf("fam-%d-%d", w, i), u, base)
				switch err := s.CreateFamily(ctx, f); {
				case errors.Is(err, store.ErrStaleCredentials):
				case err != nil:
					t.Errorf("CreateFamily: %v", err)
					return
				default:
					mu.Lock()
					created = append(created, f)
					if len(created) == workers {
						once.Do(func() { close(warm) })
					}
					mu.Unlock()
				}
			}
		})
	}
	close(start)
	// Should the logins fail or end early, do not wait for them forever.
	go func() { wg.Wait(); once.Do(func() { close(warm) }) }()
	<-warm // the logins are under way: change the password among them
	if _, err := s.SetPassword(ctx, "alice", "$argon2id$new"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	changed := mustGetUser(t, s, "alice").CredentialVersion
	// Families that the logins still running create after the change
	// must be of the new version: check them all once the logins end.
	wg.Wait()
	for _, f := range created {
		_, err := s.GetFamily(ctx, f.ID, base)
		if f.CredentialVersion < changed && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("family %s of credential version %d lives after the change to %d (error %v)", f.ID, f.CredentialVersion, changed, err)
		}
		if f.CredentialVersion >= changed && err != nil {
			t.Errorf("family %s of the new credentials: %v", f.ID, err)
		}
	}
	list, err := s.ListFamilies(ctx, "id-alice", base)
	if err != nil {
		t.Fatalf("ListFamilies: %v", err)
	}
	for _, f := range list {
		if f.CredentialVersion < changed {
			t.Errorf("ListFamilies holds %s of credential version %d after the change to %d", f.ID, f.CredentialVersion, changed)
		}
	}
}
