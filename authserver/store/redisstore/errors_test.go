package redisstore_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

// TestErrorClasses provokes real server refusals: those that a retry
// elsewhere or later may overcome are store.ErrUnavailable (HTTP 503);
// the others are plain errors.
func TestErrorClasses(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)

	t.Run("out-of-memory", func(t *testing.T) {
		// maxmemory-policy noeviction (the default, and what docs/redis.md
		// asks for): a full server refuses writes rather than evicting.
		srv := redistest.StartServer(t, "--maxmemory-policy", "noeviction")
		s := openStore(t, redisstore.Options{Addrs: []string{srv.Addr}})
		f := testFamily("fam-oom", now)
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatalf("CreateFamily: %v", err)
		}
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		defer c.Close()
		if err := c.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
			t.Fatalf("CONFIG SET maxmemory: %v", err)
		}
		wantUnavailable(t, "CreateFamily", s.CreateFamily(ctx, testFamily("fam-oom-2", now)))
		_, err := s.Redeem(ctx, redemption(f, now.Add(time.Second), 0, ""))
		wantUnavailable(t, "Redeem", err)
		_, _, err = s.AddFailure(ctx, "user:alice", now, time.Hour)
		wantUnavailable(t, "AddFailure", err)
		// Nothing was half done: the family is as it was.
		if got, err := s.GetFamily(ctx, f.ID, now); err != nil || got.Generation != 0 {
			t.Fatalf("GetFamily after the refused rotation = generation %d, %v", got.Generation, err)
		}
	})

	t.Run("read-only-replica", func(t *testing.T) {
		// What a server still connected to a demoted master meets until
		// Sentinel points it at the new one.
		master := redistest.StartServer(t)
		replica := redistest.StartServer(t, "--replicaof", "127.0.0.1", port(master.Addr))
		s := openStore(t, redisstore.Options{Addrs: []string{replica.Addr}})
		wantUnavailable(t, "CreateFamily", s.CreateFamily(ctx, testFamily("fam-ro", now)))
		_, _, err := s.SwapKeySet(ctx, 0, []byte("keys"))
		wantUnavailable(t, "SwapKeySet", err)
	})

	t.Run("wrong-type", func(t *testing.T) {
		s, c, prefix := schemaStore(t)
		if err := c.HSet(ctx, prefix+"f{fam-hash}", "a", "b").Err(); err != nil {
			t.Fatalf("HSET: %v", err)
		}
		_, err := s.GetFamily(ctx, "fam-hash", now)
		if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetFamily of a hash: error = %v, want a plain error", err)
		}
	})

	t.Run("malformed-record", func(t *testing.T) {
		s, c, prefix := schemaStore(t)
		// The current record version, cut short.
		if err := c.Set(ctx, prefix+"f{fam-bad}", "\x02\x80", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		_, err := s.GetFamily(ctx, "fam-bad", now)
		if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetFamily of a malformed record: error = %v, want a plain error", err)
		}
		_, err = s.Redeem(ctx, redemption(testFamily("fam-bad", now), now, 0, ""))
		if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Redeem of a malformed record: error = %v, want a plain error", err)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		addr := redistest.SharedAddr(t)
		s := openStore(t, redisstore.Options{Addrs: []string{addr}, KeyPrefix: redistest.Prefix(t)})
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := s.GetUser(ctx, "alice")
		wantUnavailable(t, "GetUser", err)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("GetUser error = %v, want it to wrap context.Canceled", err)
		}
	})
}

func wantUnavailable(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("%s: error = %v, want ErrUnavailable", op, err)
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
