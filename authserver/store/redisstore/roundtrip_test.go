package redisstore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

// roundTrips counts what a client sends: a command or a pipeline (MULTI
// included) is one round trip.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestRoundTrips counts the round trips of every operation against a
// standalone server, once its scripts are loaded (the first run of a script
// on a server costs one more: EVALSHA, NOSCRIPT, EVAL) and its one
// connection is open (opening one costs two: HELLO, CLIENT SETINFO).
func TestRoundTrips(t *testing.T) {
	addr := redistest.SharedAddr(t)
	prefix := redistest.Prefix(t)
	redistest.CleanupPrefix(t, []string{addr}, prefix)
	s, err := Open(context.Background(), Options{Addrs: []string{addr}, KeyPrefix: prefix, PoolSize: 1})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, sc := range []*redis.Script{redeemScript, createUserScript, changeUserScript, upgradeHashScript, createEntryScript, swapKeySetScript, addFailureScript} {
		if err := sc.Load(ctx, s.client).Err(); err != nil {
			t.Fatalf("SCRIPT LOAD: %v", err)
		}
	}
	// The reaper's reads of expired grace records are not the operations'.
	s.reaper.close()
	var count roundTrips
	s.client.AddHook(&count)

	now := time.Now().UTC().Truncate(time.Second)
	f := store.Family{
		ID: "fam-rt", UserID: "u_rt", ClientID: "app", Scope: []string{"profile"}, Created: now, LastUsed: now,
		IdleTTL: time.Hour, ExpiresAt: now.Add(24 * time.Hour), CurrentHash: hash("0"),
	}
	user := store.User{ID: "u_rt", Name: "rt", PasswordHash: "$argon2id$x", Created: now}
	gen := uint32(0)
	redeem := func() error {
		res, err := s.Redeem(ctx, store.Redemption{
			FamilyID: f.ID, ClientID: f.ClientID, Generation: gen, PresentedHash: hash(fmt.Sprint(gen)),
			NewHash: hash(fmt.Sprint(gen + 1)), SealedNext: make([]byte, 97), Now: now.Add(time.Duration(gen+1) * time.Second),
		})
		if err == nil && res.Outcome != store.Rotated {
			err = fmt.Errorf("outcome %v", res.Outcome)
		}
		gen++
		return err
	}
	tests := []struct {
		op   string
		want int64
		call func() error
	}{
		{"CreateUser", 2, func() error { return s.CreateUser(ctx, user) }},
		{"GetUser", 1, func() error { _, err := s.GetUser(ctx, user.Name); return err }},
		// The change, then the id's version (a family to revoke adds two).
		{"SetPassword", 2, func() error { _, err := s.SetPassword(ctx, user.Name, "$argon2id$y"); return err }},
		{"UpgradePasswordHash", 1, func() error { return s.UpgradePasswordHash(ctx, user.Name, "$argon2id$y", "$argon2id$z") }},
		// The index step, then the family: the password grant's one more.
		{"CreateFamily", 2, func() error { f.CredentialVersion = 1; return s.CreateFamily(ctx, f) }},
		{"Redeem", 1, redeem},
		{"Redeem", 1, redeem},
		{"GetFamily", 1, func() error { _, err := s.GetFamily(ctx, f.ID, now); return err }},
		{"ListFamilies", 2, func() error { _, err := s.ListFamilies(ctx, f.UserID, now); return err }},
		{"Failures", 1, func() error { _, _, err := s.Failures(ctx, "user:rt", now); return err }},
		{"AddFailure", 1, func() error { _, _, err := s.AddFailure(ctx, "user:rt", now, time.Hour); return err }},
		{"ResetFailures", 1, func() error { return s.ResetFailures(ctx, "user:rt") }},
		{"RevokeToken", 1, func() error { return s.RevokeToken(ctx, "jti", now.Add(time.Hour)) }},
		{"IsRevoked", 1, func() error { _, err := s.IsRevoked(ctx, "jti", now); return err }},
		{"LoadKeySet", 1, func() error { _, _, err := s.LoadKeySet(ctx); return err }},
		{"SwapKeySet", 1, func() error { _, _, err := s.SwapKeySet(ctx, 0, []byte("keys")); return err }},
		{"RevokeFamily", 1, func() error { return s.RevokeFamily(ctx, "fam-other") }},
		{"RevokeUserFamilies", 3, func() error { _, err := s.RevokeUserFamilies(ctx, f.UserID); return err }},
		// The read for the check, then as the unconditional change.
		{"SetDisabledIf", 3, func() error {
			_, err := s.SetDisabledIf(ctx, user.Name, false, func(store.User) error { return nil })
			return err
		}},
		{"DeleteUser", 2, func() error { _, err := s.DeleteUser(ctx, user.Name); return err }},
		{"Ping", 1, func() error { return s.Ping(ctx) }},
	}
	for _, tc := range tests {
		before := count.n.Load()
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.op, err)
		}
		if got := count.n.Load() - before; got != tc.want {
			t.Errorf("%s took %d round trips, want %d", tc.op, got, tc.want)
		}
	}

	// A chain of rotations: exactly one round trip each.
	if err := s.CreateFamily(ctx, store.Family{
		ID: "fam-chain", UserID: "u_chain", ClientID: "app", Created: now, LastUsed: now,
		IdleTTL: time.Hour, ExpiresAt: now.Add(24 * time.Hour), CurrentHash: hash("0"),
	}); err != nil {
		t.Fatalf("CreateFamily: %v", err)
	}
	f.ID, gen = "fam-chain", 0
	const chain = 100
	before := count.n.Load()
	for range chain {
		if err := redeem(); err != nil {
			t.Fatalf("Redeem generation %d: %v", gen, err)
		}
	}
	if got := count.n.Load() - before; got != chain {
		t.Errorf("%d rotations took %d round trips, want %d", chain, got, chain)
	}
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
