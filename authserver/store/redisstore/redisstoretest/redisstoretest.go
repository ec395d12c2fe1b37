// Package redisstoretest opens Redis stores for the tests of the packages
// above the store, each under a key prefix of its own. (redistest, which
// starts Redis servers, cannot: the store's own tests import it.)
package redisstoretest

import (
	"context"
	"testing"

	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

// Open opens a store on the shared Redis (redistest.SharedAddr: skipped
// or failed as it says when Redis does not answer); see OpenAt.
func Open(t testing.TB) *redisstore.Store {
	t.Helper()
	return OpenAt(t, []string{redistest.SharedAddr(t)})
}

// OpenAt opens a store on the Redis at addrs (one address, or the nodes
// of a Cluster) under a fresh key prefix; when t ends, the store is
// closed and its keys deleted.
func OpenAt(t testing.TB, addrs []string) *redisstore.Store {
	t.Helper()
	prefix := redistest.Prefix(t)
	redistest.CleanupPrefix(t, addrs, prefix)
	s, err := redisstore.Open(context.Background(), redisstore.Options{Addrs: addrs, KeyPrefix: prefix})
	if err != nil {
		t.Fatalf("open redis store at %v: %v", addrs, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
