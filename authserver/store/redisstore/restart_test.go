package redisstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
	"github.com/oauthkit/authserver/internal/testutil"
)

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// testFamily returns a family of user u_alice logged in at now.
func testFamily(id string, now time.Time) store.Family {
	return store.Family{
		ID: id, UserID: "u_alice", ClientID: "mobile-app", Scope: []string{"profile", "orders:read"},
		Created: now, LastUsed: now, IdleTTL: time.Hour, ExpiresAt: now.Add(24 * time.Hour),
		CurrentHash: hashOf(id + "/0"),
	}
}

// rotate redeems f's current token at now and requires Rotated.
func rotate(t *testing.T, s store.Store, f store.Family, now time.Time) store.Family {
	t.Helper()
	got, err := s.Redeem(context.Background(), redemption(f, now, 10*time.Second, ""))
	if err != nil || got.Outcome != store.Rotated {
		t.Fatalf("Redeem(%s, generation %d) = %v, %v; want rotated", f.ID, f.Generation, got.Outcome, err)
	}
	return got.Family
}

// redemption presents f's current token at now; tag tells apart the
// successors of different attempts.
func redemption(f store.Family, now time.Time, grace time.Duration, tag string) store.Redemption {
	next := fmt.Sprintf("%s/%d%s", f.ID, f.Generation+1, tag)
	return store.Redemption{
		FamilyID: f.ID, ClientID: f.ClientID, Generation: f.Generation, PresentedHash: f.CurrentHash,
		NewHash: hashOf(next), SealedNext: []byte("sealed:" + next), Now: now, Grace: grace,
	}
}

// TestRestart writes through a server with AOF on, kills it with SIGKILL
// (a crash: unlike SIGTERM, which makes Redis flush and exit cleanly, only
// what it had written to its AOF before answering survives), starts it
// again on the same directory and port, and requires every acknowledged
// write to be there, through the same Store, which reconnects by itself.
// With appendfsync everysec too: a process crash loses nothing
// acknowledged, since Redis writes the AOF before it replies; only an
// operating-system crash or power loss can lose the last second.
func TestRestart(t *testing.T) {
	for _, fsync := range []string{"always", "everysec"} {
		t.Run(fsync, func(t *testing.T) {
			srv := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", fsync)
			s := openStore(t, redisstore.Options{Addrs: []string{srv.Addr}})
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Second)
			alice := store.User{ID: "u_alice", Name: "alice", PasswordHash: "$argon2id$x", Created: now}
			if err := s.CreateUser(ctx, alice); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			if _, _, err := s.SwapKeySet(ctx, 0, []byte("key set 1")); err != nil {
				t.Fatalf("SwapKeySet: %v", err)
			}
			f := testFamily("fam-restart", now)
			if err := s.CreateFamily(ctx, f); err != nil {
				t.Fatalf("CreateFamily: %v", err)
			}
			var before store.Family
			for i := 1; i <= 3; i++ {
				before = f
				f = rotate(t, s, f, now.Add(time.Duration(i)*time.Minute))
			}
			if _, _, err := s.AddFailure(ctx, "user:alice", now, time.Hour); err != nil {
				t.Fatalf("AddFailure: %v", err)
			}
			if err := s.RevokeToken(ctx, "jti-1", now.Add(time.Hour)); err != nil {
				t.Fatalf("RevokeToken: %v", err)
			}

			srv.Kill()
			srv.Start()

			later := now.Add(4 * time.Minute)
			if got, err := s.GetUser(ctx, "alice"); err != nil || got.ID != alice.ID {
				t.Errorf("GetUser after restart = %q, %v", got.ID, err)
			}
			if data, v, err := s.LoadKeySet(ctx); err != nil || string(data) != "key set 1" || v != 1 {
				t.Errorf("LoadKeySet after restart = %q, %d, %v", data, v, err)
			}
			if n, _, err := s.Failures(ctx, "user:alice", later); err != nil || n != 1 {
				t.Errorf("Failures after restart = %d, %v; want 1", n, err)
			}
			if revoked, err := s.IsRevoked(ctx, "jti-1", later); err != nil || !revoked {
				t.Errorf("IsRevoked after restart = %t, %v", revoked, err)
			}
			got, err := s.GetFamily(ctx, f.ID, later)
			if err != nil || got.Generation != 3 || !bytes.Equal(got.CurrentHash, f.CurrentHash) {
				t.Fatalf("GetFamily after restart: generation %d, %v; want generation 3, the last rotation's token", got.Generation, err)
			}
			// The newest token rotates; the one before it is now a replay.
			f = rotate(t, s, f, later)
			res, err := s.Redeem(ctx, redemption(before, later.Add(time.Minute), 10*time.Second, "thief"))
			if err != nil || res.Outcome != store.Reused {
				t.Fatalf("Redeem of generation 2 after restart = %v, %v; want reused", res.Outcome, err)
			}
		})
	}
}

// TestOutage stops the server in two ways while a Store is open: paused
// (SIGSTOP: connections hang, as with a hung server or a lost network)
// and killed (connections refused). Every call must fail with
// store.ErrUnavailable within the client's timeouts, succeed again once
// the server is back, without reopening the Store, and leave no goroutine
// behind.
func TestOutage(t *testing.T) {
	srv := redistest.StartServer(t, "--appendonly", "yes")
	opts := redisstore.Options{
		Addrs:       []string{srv.Addr},
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 250 * time.Millisecond, WriteTimeout: 250 * time.Millisecond,
		PoolSize: 4,
	}
	// Not a performance assertion: a generous bound on how long a call may
	// block, far below what a call without timeouts would.
	bound := opts.DialTimeout + opts.ReadTimeout + opts.WriteTimeout + time.Second
	s := openStore(t, opts)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if err := s.CreateUser(ctx, store.User{ID: "u_alice", Name: "alice", PasswordHash: "$argon2id$x", Created: now}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	f := testFamily("fam-outage", now)
	if err := s.CreateFamily(ctx, f); err != nil {
		t.Fatalf("CreateFamily: %v", err)
	}
	// The server knows the Redeem script from now on (EVALSHA suffices).
	f = rotate(t, s, f, now.Add(time.Second))
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"GetUser", func() error { _, err := s.GetUser(ctx, "alice"); return err }},
		{"GetFamily", func() error { _, err := s.GetFamily(ctx, f.ID, now); return err }},
		{"ListFamilies", func() error { _, err := s.ListFamilies(ctx, f.UserID, now); return err }},
		{"Failures", func() error { _, _, err := s.Failures(ctx, "user:alice", now); return err }},
		{"LoadKeySet", func() error { _, _, err := s.LoadKeySet(ctx); return err }},
		{"IsRevoked", func() error { _, err := s.IsRevoked(ctx, "jti", now); return err }},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s before the outage: %v", c.name, err)
		}
	}
	baseline := runtime.NumGoroutine()

	var slowest time.Duration
	expectUnavailable := func(t *testing.T, name string, call func() error) {
		t.Helper()
		start := time.Now()
		err := call()
		took := time.Since(start)
		slowest = max(slowest, took)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s during the outage: error = %v, want ErrUnavailable", name, err)
		}
		if took > bound {
			t.Errorf("%s during the outage blocked %v, more than %v", name, took, bound)
		}
	}
	awaitBack := func(t *testing.T) {
		t.Helper()
		testutil.Eventually(t, 15*time.Second, "the store to reconnect after the server came back", func() bool { return s.Ping(ctx) == nil })
		for _, c := range calls {
			if err := c.call(); err != nil {
				t.Errorf("%s after the outage: %v", c.name, err)
			}
		}
	}

	t.Run("paused", func(t *testing.T) {
		srv.Pause()
		// A redemption that times out may still run: its request went out
		// on a pooled connection and waits in the server's socket buffer,
		// to be run the moment the server resumes.
		lost := redemption(f, now.Add(time.Minute), 10*time.Second, "lost")
		expectUnavailable(t, "Redeem", func() error { _, err := s.Redeem(ctx, lost); return err })
		for _, c := range calls {
			expectUnavailable(t, c.name, c.call)
		}
		srv.Resume()
		awaitBack(t)
		// The client's retry, inside the grace, gets the very successor
		// of the request it never heard back from.
		retry := redemption(f, now.Add(time.Minute+time.Second), 10*time.Second, "retry")
		res, err := s.Redeem(ctx, retry)
		if err != nil {
			t.Fatalf("Redeem retry: %v", err)
		}
		if res.Outcome != store.Replayed || !bytes.Equal(res.Family.SealedNext, lost.SealedNext) {
			t.Fatalf("Redeem retry = %v with successor %q; want replayed with the lost request's %q",
				res.Outcome, res.Family.SealedNext, lost.SealedNext)
		}
	})

	t.Run("killed", func(t *testing.T) {
		srv.Kill()
		for _, c := range calls {
			expectUnavailable(t, c.name, c.call)
		}
		srv.Start()
		awaitBack(t)
	})
	t.Logf("slowest failing call: %v (bound %v)", slowest, bound)

	if !testutil.WaitFor(10*time.Second, func() bool { return runtime.NumGoroutine() <= baseline }) {
		var b strings.Builder
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Fatalf("%d goroutines after the outages, %d before:\n%s", runtime.NumGoroutine(), baseline, b.String())
	}
}
