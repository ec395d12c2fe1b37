package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

// TestWatchKeySet has one process announce its key-set swaps to another
// through pub/sub, on a single node and on a Cluster.
func TestWatchKeySet(t *testing.T) {
	for name, addrs := range map[string]func(t *testing.T) []string{
		"single":  func(t *testing.T) []string { return []string{redistest.SharedAddr(t)} },
		"cluster": func(t *testing.T) []string { return redistest.StartCluster(t) },
	} {
		t.Run(name, func(t *testing.T) {
			addrs := addrs(t)
			prefix := redistest.Prefix(t)
			redistest.CleanupPrefix(t, addrs, prefix)
			a := openStore(t, redisstore.Options{Addrs: addrs, KeyPrefix: prefix})
			b := openStore(t, redisstore.Options{Addrs: addrs, KeyPrefix: prefix})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			changed := a.WatchKeySet(ctx)
			// The subscription is asynchronous: swap until one is seen.
			deadline := time.After(10 * time.Second)
			var version int64
			for seen := false; !seen; {
				v, ok, err := b.SwapKeySet(ctx, version, []byte("set"))
				if err != nil || !ok {
					t.Fatalf("SwapKeySet = %v, %v", ok, err)
				}
				version = v
				select {
				case <-changed:
					seen = true
				case <-time.After(100 * time.Millisecond):
				case <-deadline:
					t.Fatal("no change announced")
				}
			}
		})
	}
}
