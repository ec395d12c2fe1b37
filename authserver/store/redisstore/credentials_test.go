package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

// TestCreateFamilyInFlight forces the interleaving that the conformance
// suite cannot reach from outside: a CreateFamily whose index step ran
// before a user change and whose SET runs after it. The change finds the
// entry but no family, leaves a tombstone, and the SET fails on it; the
// tombstone is no family for GetFamily, Redeem and ListFamilies, and
// expires.
func TestCreateFamilyInFlight(t *testing.T) {
	addr := redistest.SharedAddr(t)
	prefix := redistest.Prefix(t)
	redistest.CleanupPrefix(t, []string{addr}, prefix)
	s, err := Open(context.Background(), Options{Addrs: []string{addr}, KeyPrefix: prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.CreateUser(ctx, store.User{ID: "u_alice", Name: "alice", PasswordHash: "$argon2id$x", Created: now}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	for i, change := range []func() (int, error){
		func() (int, error) { return s.SetPassword(ctx, "alice", "$argon2id$y") },
		func() (int, error) { return s.SetDisabled(ctx, "alice", true) },
		func() (int, error) { return s.DeleteUser(ctx, "alice") },
	} {
		if i == 2 {
			if _, err := s.SetDisabled(ctx, "alice", false); err != nil {
				t.Fatalf("enable: %v", err)
			}
		}
		u, err := s.GetUser(ctx, "alice")
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		f := store.Family{
			ID: "fam-in-flight-" + string(rune('a'+i)), UserID: u.ID, ClientID: "app", Created: now, LastUsed: now,
			IdleTTL: time.Hour, ExpiresAt: now.Add(24 * time.Hour), CurrentHash: hash("0"),
			CredentialVersion: u.CredentialVersion,
		}
		rec, err := encodeFamily(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.addIndexEntry(ctx, f); err != nil {
			t.Fatalf("index step: %v", err)
		}
		if n, err := change(); err != nil || n != 0 {
			t.Fatalf("change %d = %d, %v; want 0 families revoked", i, n, err)
		}
		key, _ := s.familyKeys(f.ID)
		if ms := s.client.PTTL(ctx, key).Val(); ms <= 0 || ms > tombstoneTTL {
			t.Fatalf("tombstone TTL = %v, want up to %v", ms, tombstoneTTL)
		}
		if _, err := s.GetFamily(ctx, f.ID, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetFamily of a tombstone: %v, want ErrNotFound", err)
		}
		_, err = s.Redeem(ctx, store.Redemption{FamilyID: f.ID, ClientID: "app", PresentedHash: hash("0"), NewHash: hash("1"), Now: now})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Redeem of a tombstone: %v, want ErrNotFound", err)
		}
		if err := s.storeFamily(ctx, f, rec); !errors.Is(err, store.ErrStaleCredentials) {
			t.Fatalf("SET of the family in flight: %v, want ErrStaleCredentials", err)
		}
		if list, err := s.ListFamilies(ctx, u.ID, now); err != nil || len(list) != 0 {
			t.Fatalf("ListFamilies = %v, %v; want none", list, err)
		}
		// And the whole CreateFamily, now, fails at its index step.
		if err := s.CreateFamily(ctx, f); !errors.Is(err, store.ErrStaleCredentials) {
			t.Fatalf("CreateFamily after the change: %v, want ErrStaleCredentials", err)
		}
	}
}
