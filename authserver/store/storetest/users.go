package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// newUser returns a user named name. Users have no lifetime, so a fixed
// creation time keeps the suite deterministic.
func newUser(name string) store.User {
	return store.User{
		ID:           "id-" + name,
		Name:         name,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA-" + name,
		Claims:       map[string]string{"email": name + "@example.com", "role": "buyer"},
		Created:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func mustCreateUser(t *testing.T, s store.Store, u store.User) {
	t.Helper()
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.Name, err)
	}
}

// wantUser requires GetUser(want.Name) to return want.
func wantUser(t *testing.T, s store.Store, want store.User) {
	t.Helper()
	got, err := s.GetUser(context.Background(), want.Name)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", want.Name, err)
	}
	if d := diffUser(got, want); d != "" {
		t.Fatalf("GetUser(%s) (-got +want):\n%s", want.Name, d)
	}
}

func testUserCreateGet(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		user store.User
	}{
		{"with-claims", newUser("alice")},
		{"no-claims", func() store.User { u := newUser("bob"); u.Claims = nil; return u }()},
		{"disabled", func() store.User { u := newUser("carol"); u.Disabled = true; return u }()},
		{"unicode-name", newUser("zoë")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustCreateUser(t, s, tc.user)
			wantUser(t, s, tc.user)
		})
	}
}

func testUserDuplicate(t *testing.T, s store.Store) {
	alice := newUser("alice")
	mustCreateUser(t, s, alice)
	tests := []struct {
		name string
		user store.User
	}{
		{"same-name", func() store.User { u := newUser("alice"); u.ID = "id-other"; return u }()},
		{"same-id", func() store.User { u := newUser("other"); u.ID = alice.ID; return u }()},
		{"same-both", alice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateUser(context.Background(), tc.user)
			if !errors.Is(err, store.ErrAlreadyExists) {
				t.Fatalf("CreateUser error = %v, want ErrAlreadyExists", err)
			}
			wantUser(t, s, alice)
		})
	}
	users, err := s.ListUsers(context.Background())
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if len(users) != 1 {
		t.Fatalf("ListUsers returned %d users, want 1", len(users))
	}
}

func testUserNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreateUser(t, s, newUser("alice"))
	tests := []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, err := s.GetUser(ctx, "bob"); return err }},
		{"get-by-id", func() error { _, err := s.GetUser(ctx, "id-alice"); return err }},
		{"get-other-case", func() error { _, err := s.GetUser(ctx, "Alice"); return err }},
		{"set-password", func() error { _, err := s.SetPassword(ctx, "bob", "$argon2id$x"); return err }},
		{"set-disabled", func() error { _, err := s.SetDisabled(ctx, "bob", true); return err }},
		{"delete", func() error { _, err := s.DeleteUser(ctx, "bob"); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("error = %v, want ErrNotFound", err)
			}
		})
	}
}

func testUserList(t *testing.T, s store.Store) {
	ctx := context.Background()
	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers on an empty store: %v", err)
	}
	if len(users) != 0 {
		t.Fatalf("ListUsers on an empty store returned %d users", len(users))
	}
	for _, name := range []string{"mallory", "alice", "trent", "bob", "alice2"} {
		mustCreateUser(t, s, newUser(name))
	}
	users, err = s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	want := []string{"alice", "alice2", "bob", "mallory", "trent"}
	var got []string
	for _, u := range users {
		got = append(got, u.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ListUsers names = %q, want %q", got, want)
	}
	for _, u := range users {
		if d := diffUser(u, newUser(u.Name)); d != "" {
			t.Errorf("ListUsers entry %s (-got +want):\n%s", u.Name, d)
		}
	}
}

func testUserSetPassword(t *testing.T, s store.Store) {
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	alice.PasswordHash = "$argon2id$v=19$m=65536,t=1,p=4$bmV3$bmV3aGFzaA"
	if _, err := s.SetPassword(context.Background(), alice.Name, alice.PasswordHash); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	wantUser(t, s, alice)
	wantUser(t, s, bob)
}

func testUserSetDisabled(t *testing.T, s store.Store) {
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	for _, step := range []struct {
		name     string
		disabled bool
	}{
		{"disable", true},
		{"disable-again", true},
		{"enable", false},
		{"enable-again", false},
	} {
		t.Run(step.name, func(t *testing.T) {
			if _, err := s.SetDisabled(context.Background(), alice.Name, step.disabled); err != nil {
				t.Fatalf("SetDisabled(%t): %v", step.disabled, err)
			}
			alice.Disabled = step.disabled
			wantUser(t, s, alice)
			wantUser(t, s, bob)
		})
	}
}

func testUserDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	if _, err := s.DeleteUser(ctx, alice.Name); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetUser(ctx, alice.Name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUser after DeleteUser error = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteUser(ctx, alice.Name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteUser error = %v, want ErrNotFound", err)
	}
	wantUser(t, s, bob)

	// The name and the id are free again.
	mustCreateUser(t, s, alice)
	wantUser(t, s, alice)
}
