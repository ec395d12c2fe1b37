package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/oauthkit/authserver/authserver/store"
)

// wantKeySet requires LoadKeySet to return data at version.
func wantKeySet(t *testing.T, s store.Store, data []byte, version int64) {
	t.Helper()
	got, v, err := s.LoadKeySet(context.Background())
	if err != nil {
		t.Fatalf("LoadKeySet: %v", err)
	}
	if v != version || !bytes.Equal(got, data) {
		t.Fatalf("LoadKeySet = %q at version %d, want %q at version %d", got, v, data, version)
	}
}

func testKeySetEmpty(t *testing.T, s store.Store) {
	data, version, err := s.LoadKeySet(context.Background())
	if err != nil {
		t.Fatalf("LoadKeySet on an empty store: %v", err)
	}
	if data != nil || version != 0 {
		t.Fatalf("LoadKeySet on an empty store = %q at version %d, want nil at version 0", data, version)
	}
}

func testKeySetSwap(t *testing.T, s store.Store) {
	ctx := context.Background()
	var version int64 // the version the test believes is stored
	tests := []struct {
		name      string
		version   func() int64 // the version the writer read
		data      string
		wantSwap  bool
		wantState string // stored afterwards
	}{
		{"first", func() int64 { return 0 }, "set-1", true, "set-1"},
		{"first-again", func() int64 { return 0 }, "set-x", false, "set-1"},
		{"second", func() int64 { return version }, "set-2", true, "set-2"},
		{"stale", func() int64 { return version - 1 }, "set-y", false, "set-2"},
		{"ahead", func() int64 { return version + 1 }, "set-z", false, "set-2"},
		{"third", func() int64 { return version }, "set-3", true, "set-3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			read := tc.version()
			newVersion, swapped, err := s.SwapKeySet(ctx, read, []byte(tc.data))
			if err != nil {
				t.Fatalf("SwapKeySet(%d): %v", read, err)
			}
			if swapped != tc.wantSwap {
				t.Fatalf("SwapKeySet(%d) swapped = %t, want %t", read, swapped, tc.wantSwap)
			}
			if swapped {
				if newVersion == read || newVersion <= 0 {
					t.Fatalf("SwapKeySet(%d) returned version %d, want a new positive one", read, newVersion)
				}
				version = newVersion
			}
			wantKeySet(t, s, []byte(tc.wantState), version)
		})
	}
}

func testKeySetConcurrentSwap(t *testing.T, s store.Store) {
	ctx := context.Background()
	const writers = 16
	for round := range 3 {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			_, version, err := s.LoadKeySet(ctx)
			if err != nil {
				t.Fatalf("LoadKeySet: %v", err)
			}
			type result struct {
				version int64
				swapped bool
				err     error
			}
			results := make([]result, writers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					<-start
					v, ok, err := s.SwapKeySet(ctx, version, fmt.Appendf(nil, "round-%d-writer-%d", round, i))
					results[i] = result{v, ok, err}
				})
			}
			close(start)
			wg.Wait()

			winner := -1
			for i, r := range results {
				if r.err != nil {
					t.Fatalf("writer %d: %v", i, r.err)
				}
				if r.swapped {
					if winner >= 0 {
						t.Fatalf("writers %d and %d both swapped from version %d", winner, i, version)
					}
					winner = i
				}
			}
			if winner < 0 {
				t.Fatalf("no writer swapped from version %d", version)
			}
			wantKeySet(t, s, fmt.Appendf(nil, "round-%d-writer-%d", round, winner), results[winner].version)
		})
	}
}
