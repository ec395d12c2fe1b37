package storetest

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/oauthkit/authserver/authserver/store"
)

// imported returns a user as `users import` makes it from Django row pk.
func imported(name string, pk int, hash string) store.ImportedUser {
	u := newUser(name)
	u.ID = fmt.Sprintf("u-import-%s-%d", name, pk)
	u.PasswordHash = hash
	u.Claims = map[string]string{"user_id": fmt.Sprint(pk), "username": name}
	return store.ImportedUser{User: u, Key: "user_id"}
}

func importUsers(t *testing.T, s store.Store, overwrite bool, users ...store.ImportedUser) []store.ImportResult {
	t.Helper()
	return importWith(t, s, store.ImportOptions{Overwrite: overwrite}, users...)
}

func importWith(t *testing.T, s store.Store, opts store.ImportOptions, users ...store.ImportedUser) []store.ImportResult {
	t.Helper()
	imp, ok := s.(store.Importer)
	if !ok {
		t.Fatalf("%T is not a store.Importer", s)
	}
	res, err := imp.ImportUsers(context.Background(), users, opts)
	if err != nil {
		t.Fatalf("ImportUsers: %v", err)
	}
	if len(res) != len(users) {
		t.Fatalf("ImportUsers returned %d results for %d users", len(res), len(users))
	}
	return res
}

func wantActions(t *testing.T, res []store.ImportResult, want ...store.ImportAction) {
	t.Helper()
	for i := range want {
		if res[i].Action != want[i] {
			t.Errorf("result %d: action %d, want %d", i, res[i].Action, want[i])
		}
	}
}

func testImportUsers(t *testing.T, s store.Store) {
	const django = "pbkdf2_sha256$260000$salt$AAAA"
	alice, bob, carol := imported("alice", 1, django+"a"), imported("bob", 2, django+"b"), imported("carol", 3, "!unusable")
	carol.User.Disabled = true

	res := importWith(t, s, store.ImportOptions{DryRun: true}, alice, bob, carol)
	wantActions(t, res, store.ImportCreated, store.ImportCreated, store.ImportCreated)
	if users, err := s.ListUsers(context.Background()); err != nil || len(users) != 0 {
		t.Fatalf("after a dry run: %d users, %v; want none", len(users), err)
	}

	res = importUsers(t, s, false, alice, bob, carol)
	wantActions(t, res, store.ImportCreated, store.ImportCreated, store.ImportCreated)
	for i, in := range []store.ImportedUser{alice, bob, carol} {
		wantUser(t, s, in.User)
		if res[i].UserID != in.User.ID || res[i].EndSessions {
			t.Errorf("%s: result %+v", in.User.Name, res[i])
		}
	}

	t.Run("rerun-unchanged", func(t *testing.T) {
		again := []store.ImportedUser{imported("alice", 1, django+"a"), imported("bob", 2, django+"b"), carol}
		res := importUsers(t, s, false, again...)
		wantActions(t, res, store.ImportUnchanged, store.ImportUnchanged, store.ImportUnchanged)
		wantUser(t, s, alice.User) // the id of the first import stays
	})

	t.Run("rerun-changed", func(t *testing.T) {
		a := imported("alice", 1, django+"A")
		a.User.Claims["email"] = "new@example.com"
		b := imported("bob", 2, django+"b")
		b.User.Disabled = true
		c := carol
		c.User.Claims = maps.Clone(c.User.Claims)
		c.User.Claims["email"] = "carol@example.com"
		res := importWith(t, s, store.ImportOptions{DryRun: true}, a, b, c)
		wantActions(t, res, store.ImportUpdated, store.ImportUpdated, store.ImportUpdated)
		wantUser(t, s, alice.User)
		res = importUsers(t, s, false, a, b, c)
		wantActions(t, res, store.ImportUpdated, store.ImportUpdated, store.ImportUpdated)
		if !res[0].EndSessions || !res[1].EndSessions || res[2].EndSessions {
			t.Errorf("EndSessions = %v %v %v, want true (new hash), true (disabled), false (claims only)",
				res[0].EndSessions, res[1].EndSessions, res[2].EndSessions)
		}
		a.User.ID = alice.User.ID
		b.User.ID = bob.User.ID
		for _, u := range []store.User{a.User, b.User, c.User} {
			wantUser(t, s, u)
		}
	})

	t.Run("password-set-here-kept", func(t *testing.T) {
		ours := "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
		if _, err := s.SetPassword(context.Background(), "bob", ours); err != nil {
			t.Fatal(err)
		}
		b := imported("bob", 2, django+"b")
		res := importUsers(t, s, false, b)
		wantActions(t, res, store.ImportUpdated) // enabled again
		got, err := s.GetUser(context.Background(), "bob")
		if err != nil || got.PasswordHash != ours || res[0].EndSessions {
			t.Errorf("bob: kept hash %v, EndSessions %v; want the hash set here kept and no session ended", got.PasswordHash == ours, res[0].EndSessions)
		}
		res = importUsers(t, s, true, b)
		wantActions(t, res, store.ImportUpdated)
		b.User.ID = bob.User.ID
		wantUser(t, s, b.User)
		if !res[0].EndSessions {
			t.Error("overwrite replaced the hash without EndSessions")
		}
	})

	t.Run("user-created-here", func(t *testing.T) {
		dave := newUser("dave")
		mustCreateUser(t, s, dave)
		other := newUser("erin")
		other.Claims = map[string]string{"user_id": "77"}
		mustCreateUser(t, s, other)
		d, e := imported("dave", 4, django+"d"), imported("erin", 5, django+"e")
		res := importUsers(t, s, false, d, e)
		wantActions(t, res, store.ImportSkipped, store.ImportSkipped)
		if res[0].UserID != dave.ID || res[0].EndSessions {
			t.Errorf("skipped dave: %+v", res[0])
		}
		wantUser(t, s, dave)
		wantUser(t, s, other)

		res = importUsers(t, s, true, d)
		wantActions(t, res, store.ImportUpdated)
		d.User.ID, d.User.Created = dave.ID, dave.Created
		wantUser(t, s, d.User)
		if !res[0].EndSessions {
			t.Error("overwrite replaced dave's hash without EndSessions")
		}
	})

	t.Run("listed", func(t *testing.T) {
		users, err := s.ListUsers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 5 {
			t.Errorf("ListUsers: %d users, want 5 (no duplicate)", len(users))
		}
	})

	t.Run("batch", func(t *testing.T) {
		batch := make([]store.ImportedUser, 1000)
		for i := range batch {
			batch[i] = imported(fmt.Sprintf("batch%04d", i), 1000+i, django)
		}
		res := importUsers(t, s, false, batch...)
		for i, r := range res {
			if r.Action != store.ImportCreated {
				t.Fatalf("batch user %d: action %d", i, r.Action)
			}
		}
		wantUser(t, s, batch[999].User)
	})
}
