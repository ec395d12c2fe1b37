package redisstore

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
	"github.com/oauthkit/authserver/internal/testutil"
)

// TestReaper checks that grace records are freed once their grace is over
// without Redis' active expiry (switched off here), and that a record a
// later rotation replaced stays until its own grace is over.
func TestReaper(t *testing.T) {
	srv := redistest.StartServer(t, "--enable-debug-command", "yes")
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	if err := c.Do(ctx, "DEBUG", "SET-ACTIVE-EXPIRE", "0").Err(); err != nil {
		t.Fatalf("DEBUG SET-ACTIVE-EXPIRE: %v", err)
	}
	s, err := Open(ctx, Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	// Redis expires keys by its own clock: these tests' now is the real
	// time.
	redeem := func(f store.Family, tag string, grace time.Duration) store.Redeemed {
		t.Helper()
		r := store.Redemption{
			FamilyID: f.ID, ClientID: f.ClientID, Generation: f.Generation, PresentedHash: f.CurrentHash,
			NewHash: hash(fmt.Sprint(f.ID, f.Generation+1, tag)), SealedNext: []byte("sealed:" + tag),
			Now: time.Now(), Grace: grace,
		}
		res, err := s.Redeem(ctx, r)
		if err != nil {
			t.Fatalf("Redeem(%s, generation %d): %v", f.ID, f.Generation, err)
		}
		return res
	}
	const families = 20
	now := time.Now()
	var keep store.Family
	for i := range families {
		f := store.Family{
			ID: fmt.Sprintf("fam-%d", i), UserID: "u_reaper", ClientID: "app", Created: now, LastUsed: now,
			IdleTTL: time.Hour, ExpiresAt: now.Add(24 * time.Hour), CurrentHash: hash(fmt.Sprint(i)),
		}
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatalf("CreateFamily: %v", err)
		}
		f = redeem(f, "short", 0).Family
		if i == 0 {
			// Rotated again at once, with a long grace: the reading due
			// for the first grace record finds the second one, live.
			keep = redeem(f, "long", time.Minute).Family
		}
	}
	// The families, the index and the one long grace record.
	const want = families + 2
	if !testutil.WaitFor(reapMargin+5*time.Second, func() bool { return c.DBSize(ctx).Val() == want }) {
		t.Fatalf("DBSIZE = %d, want %d: grace records not freed", c.DBSize(ctx).Val(), want)
	}
	res := redeem(store.Family{
		ID: keep.ID, ClientID: keep.ClientID, Generation: keep.Generation - 1, CurrentHash: keep.PreviousHash,
	}, "retry", time.Minute)
	if res.Outcome != store.Replayed || string(res.Family.SealedNext) != "sealed:long" {
		t.Fatalf("retry within the second grace = %v with %q, want replayed with %q", res.Outcome, res.Family.SealedNext, "sealed:long")
	}
}

// BenchmarkMemoryUnderLoad refreshes 100,000 families (one per user) at 1,000
// refreshes a second, with the server's grace of 10 seconds, for 90
// seconds, with and without the reaper, and reports how many grace records
// Redis still holds after their grace: with the reaper none should; without
// it, Redis' active expiry lets them pile up. It reports the expired
// records still allocated (stale-records), their share of the keys
// (%stale-keys) and their cost per family (stale-B/family). One
// measurement, whatever b.N; three minutes, so it runs only with
// AUTHSERVER_MEASURE=1:
//
//	AUTHSERVER_MEASURE=1 go test -run '^$' -bench MemoryUnderLoad -benchtime 1x ./authserver/store/redisstore
func BenchmarkMemoryUnderLoad(b *testing.B) {
	if os.Getenv("AUTHSERVER_MEASURE") != "1" {
		b.Skip("set AUTHSERVER_MEASURE=1 to run this measurement (slow)")
	}
	const (
		families = 100_000
		rate     = 1000 // refreshes a second
		grace    = 10 * time.Second
		duration = 90 * time.Second
	)
	for _, reap := range []bool{true, false} {
		b.Run(fmt.Sprintf("reaper-%t", reap), func(b *testing.B) {
			t := testing.TB(b)
			srv := redistest.StartServer(t)
			ctx := context.Background()
			s, err := Open(ctx, Options{Addrs: []string{srv.Addr}})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if !reap {
				s.reaper.close()
			}
			c := redis.NewClient(&redis.Options{Addr: srv.Addr})
			defer c.Close()

			fs := make([]store.Family, families)
			created := time.Now()
			for i := range fs {
				fs[i] = store.Family{
					ID: fmt.Sprintf("fam-%06d", i), UserID: fmt.Sprintf("u_%06d", i), ClientID: "mobile-app",
					Scope: []string{"profile", "orders:read"}, Created: created, LastUsed: created,
					IdleTTL: 168 * time.Hour, ExpiresAt: created.Add(672 * time.Hour), CurrentHash: hash(fmt.Sprint(i)),
				}
				if err := s.CreateFamily(ctx, fs[i]); err != nil {
					t.Fatalf("CreateFamily: %v", err)
				}
			}
			lastRotated := make([]time.Time, families)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			start, n := time.Now(), 0
			for time.Since(start) < duration {
				<-tick.C
				for range rate / 100 {
					i := (n * 7919) % families // every family in turn, in a scattered order
					n++
					f := fs[i]
					res, err := s.Redeem(ctx, store.Redemption{
						FamilyID: f.ID, ClientID: f.ClientID, Generation: f.Generation, PresentedHash: f.CurrentHash,
						NewHash: hash(fmt.Sprint(i, f.Generation+1)), SealedNext: make([]byte, 97), Now: time.Now(), Grace: grace,
					})
					if err != nil || res.Outcome != store.Rotated {
						t.Fatalf("Redeem: %v, %v", res.Outcome, err)
					}
					fs[i], lastRotated[i] = res.Family, time.Now()
				}
			}
			live := 0
			for _, at := range lastRotated {
				if time.Since(at) < grace {
					live++
				}
			}
			keys := c.DBSize(ctx).Val()
			stale := keys - 2*families - int64(live)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(stale), "stale-records")
			b.ReportMetric(100*float64(stale)/float64(keys), "%stale-keys")
			b.ReportMetric(float64(stale)*288/families, "stale-B/family")
			b.Logf("%d refreshes in %v: %d keys, %d grace records live; used_memory %s",
				n, duration, keys, live, redistest.InfoField(t, srv.Addr, "memory", "used_memory_human"))
		})
	}
}
