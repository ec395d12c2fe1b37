package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

// benchStore opens a store on the shared test Redis under a fresh prefix.
func benchStore(b *testing.B) *redisstore.Store {
	addr := redistest.SharedAddr(b)
	prefix := redistest.Prefix(b)
	redistest.CleanupPrefix(b, []string{addr}, prefix)
	return openStore(b, redisstore.Options{Addrs: []string{addr}, KeyPrefix: prefix})
}

// benchFamily returns a family with the production lifetimes; redeemChain
// seals successors as large as the server's (97 bytes).
func benchFamily(id string, now time.Time) store.Family {
	f := testFamily(id, now)
	f.IdleTTL, f.ExpiresAt = 168*time.Hour, now.Add(672*time.Hour)
	return f
}

// redeemChain rotates f, one millisecond apart, while next says so.
func redeemChain(b *testing.B, s store.Store, f store.Family, next func() bool) {
	ctx := context.Background()
	sealed := make([]byte, 97)
	for i := 1; next(); i++ {
		r := store.Redemption{
			FamilyID: f.ID, ClientID: f.ClientID, Generation: f.Generation, PresentedHash: f.CurrentHash,
			NewHash: hashOf(fmt.Sprintf("%s/%d", f.ID, i)), SealedNext: sealed,
			Now: f.LastUsed.Add(time.Millisecond), Grace: 10 * time.Second,
		}
		res, err := s.Redeem(ctx, r)
		if err != nil || res.Outcome != store.Rotated {
			b.Fatalf("Redeem generation %d = %v, %v", f.Generation, res.Outcome, err)
		}
		f = res.Family
	}
}

// BenchmarkRedeem rotates one family again and again: one script run, one
// round trip, per operation.
func BenchmarkRedeem(b *testing.B) {
	s := benchStore(b)
	f := benchFamily("fam-bench", time.Now().UTC().Truncate(time.Second))
	if err := s.CreateFamily(context.Background(), f); err != nil {
		b.Fatalf("CreateFamily: %v", err)
	}
	redeemChain(b, s, f, b.Loop)
}

// BenchmarkRedeemParallel rotates one family per goroutine, 16
// goroutines per CPU, as concurrent requests of many clients would.
func BenchmarkRedeemParallel(b *testing.B) {
	s := benchStore(b)
	b.SetParallelism(16)
	now := time.Now().UTC().Truncate(time.Second)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		f := benchFamily(fmt.Sprintf("fam-bench-%d", n.Add(1)), now)
		if err := s.CreateFamily(context.Background(), f); err != nil {
			b.Errorf("CreateFamily: %v", err)
			return
		}
		redeemChain(b, s, f, pb.Next)
	})
}
