package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
	"github.com/oauthkit/authserver/authserver/store/storetest"
)

// TestMinReplicasConformance runs the suite on a master with one replica
// and MinReplicas 1: every write, and its WAIT, on a connection of its own.
func TestMinReplicasConformance(t *testing.T) {
	master := redistest.StartServer(t)
	redistest.StartReplica(t, master)
	addrs := []string{master.Addr}
	storetest.RunTests(t, func(t *testing.T) store.Store {
		return openStore(t, redisstore.Options{Addrs: addrs, KeyPrefix: redistest.Prefix(t),
			MinReplicas: 1, ReplicaTimeout: 5 * time.Second})
	})
}

// TestMinReplicasPausedReplica pauses the only replica: every
// acknowledged write fails with store.ErrUnavailable, never succeeds; a
// rotation refused so is answered, once the replica is back, by a replay
// of the very successor it stored.
func TestMinReplicasPausedReplica(t *testing.T) {
	master := redistest.StartServer(t)
	replica := redistest.StartReplica(t, master)
	prefix := redistest.Prefix(t)
	s := openStore(t, redisstore.Options{Addrs: []string{master.Addr}, KeyPrefix: prefix,
		MinReplicas: 1, ReplicaTimeout: time.Second})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	f := store.Family{ID: "fam", UserID: "user", ClientID: "app", Created: now, LastUsed: now,
		IdleTTL: time.Hour, ExpiresAt: now.Add(24 * time.Hour), CurrentHash: []byte("h0")}
	if err := s.CreateFamily(ctx, f); err != nil {
		t.Fatalf("CreateFamily with the replica up: %v", err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "uid-0", Name: "erin", PasswordHash: "x", Created: now}); err != nil {
		t.Fatalf("CreateUser with the replica up: %v", err)
	}
	r := store.Redemption{FamilyID: "fam", ClientID: "app", PresentedHash: []byte("h0"),
		NewHash: []byte("h1"), SealedNext: []byte("sealed-1"), Now: now, Grace: time.Minute}

	replica.Pause()
	resumed := false
	defer func() {
		if !resumed {
			replica.Resume()
		}
	}()
	_, err := s.Redeem(ctx, r)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Redeem with the replica paused: %v, want ErrUnavailable", err)
	}
	// A retry while the replica is still away: a replay, and still not
	// acknowledged.
	if _, err := s.Redeem(ctx, r); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Redeem retried with the replica paused: %v, want ErrUnavailable", err)
	}
	writes := []struct {
		name string
		do   func() error
	}{
		{"create-family", func() error {
			g := f
			g.ID, g.CurrentHash = "fam-2", []byte("x0")
			return s.CreateFamily(ctx, g)
		}},
		{"revoke-family", func() error { return s.RevokeFamily(ctx, "fam-absent") }},
		{"revoke-token", func() error { return s.RevokeToken(ctx, "jti", now.Add(time.Hour)) }},
		{"create-user", func() error {
			return s.CreateUser(ctx, store.User{ID: "uid-1", Name: "carol", PasswordHash: "x", Created: now})
		}},
		{"swap-key-set", func() error { _, _, err := s.SwapKeySet(ctx, 0, []byte("keys")); return err }},
		{"import-users", func() error {
			_, err := s.ImportUsers(ctx, []store.ImportedUser{{User: store.User{ID: "uid-2", Name: "dave", PasswordHash: "x", Created: now}}}, store.ImportOptions{})
			return err
		}},
		{"import-users-update", func() error {
			_, err := s.ImportUsers(ctx, []store.ImportedUser{{User: store.User{ID: "uid-0", Name: "erin", PasswordHash: "y", Created: now}}}, store.ImportOptions{Overwrite: true})
			return err
		}},
	}
	for _, w := range writes {
		if err := w.do(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the replica paused: %v, want ErrUnavailable", w.name, err)
		}
	}
	// Lockout counters do not wait.
	if _, _, err := s.AddFailure(ctx, "k", now, time.Minute); err != nil {
		t.Errorf("AddFailure with the replica paused: %v", err)
	}

	replica.Resume()
	resumed = true
	for range 2 {
		got, err := s.Redeem(ctx, r)
		if err != nil {
			t.Fatalf("Redeem retried with the replica back: %v", err)
		}
		if got.Outcome != store.Replayed || !bytes.Equal(got.Family.SealedNext, r.SealedNext) {
			t.Fatalf("Redeem retried: outcome %v, sealed %q; want Replayed, %q", got.Outcome, got.Family.SealedNext, r.SealedNext)
		}
	}
	// Acknowledged: the replica has the rotation.
	onReplica := openStore(t, redisstore.Options{Addrs: []string{replica.Addr}, KeyPrefix: prefix})
	g, err := onReplica.GetFamily(ctx, "fam", now)
	if err != nil || g.Generation != 1 || !bytes.Equal(g.CurrentHash, r.NewHash) {
		t.Fatalf("family on the replica: generation %d, hash %q, %v; want 1, %q", g.Generation, g.CurrentHash, err, r.NewHash)
	}
}

// TestMinReplicasClusterRouting runs acknowledged writes of keys in many
// slots on a Cluster without replicas: each must reach its slot's master
// (a write sent elsewhere would meet MOVED) and then be refused for want
// of a replica, never acknowledged.
func TestMinReplicasClusterRouting(t *testing.T) {
	addrs := redistest.StartCluster(t)
	s := openStore(t, redisstore.Options{Addrs: addrs, KeyPrefix: redistest.Prefix(t),
		MinReplicas: 1, ReplicaTimeout: 10 * time.Millisecond})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "0 of 1 replicas acknowledged") {
			t.Errorf("%s: %v, want a WAIT shortfall on the slot's master", what, err)
		}
	}
	for i := range 20 {
		id := fmt.Sprintf("fam-%d", i)
		f := store.Family{ID: id, UserID: fmt.Sprintf("user-%d", i), ClientID: "app", Created: now, LastUsed: now,
			IdleTTL: time.Hour, ExpiresAt: now.Add(time.Hour), CurrentHash: []byte("h")}
		check("CreateFamily "+id, s.CreateFamily(ctx, f))
		check("RevokeFamily "+id, s.RevokeFamily(ctx, id))
		check("RevokeToken", s.RevokeToken(ctx, "jti-"+id, now.Add(time.Hour)))
		check("CreateUser", s.CreateUser(ctx, store.User{ID: "uid-" + id, Name: "name-" + id, PasswordHash: "x", Created: now}))
		_, err := s.ImportUsers(ctx, []store.ImportedUser{{User: store.User{ID: "imp-" + id, Name: "imported-" + id, PasswordHash: "x", Created: now}}}, store.ImportOptions{})
		check("ImportUsers", err)
	}
}
