package keystest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/oauthkit/authserver/keys/keystest"
)

func TestStoreSwapsOnlyTheCurrentVersion(t *testing.T) {
	ctx := context.Background()
	var s keystest.Store
	if data, v, err := s.LoadKeySet(ctx); err != nil || v != 0 || len(data) != 0 {
		t.Fatalf("empty store: LoadKeySet = %q, %d, %v", data, v, err)
	}
	if v, ok, err := s.SwapKeySet(ctx, 0, []byte("one")); err != nil || !ok || v != 1 {
		t.Fatalf("first swap = %d, %v, %v; want 1, true", v, ok, err)
	}
	if v, ok, err := s.SwapKeySet(ctx, 0, []byte("stale")); err != nil || ok || v != 1 {
		t.Fatalf("swap at a stale version = %d, %v, %v; want 1, false", v, ok, err)
	}
	data, v, err := s.LoadKeySet(ctx)
	if err != nil || v != 1 || string(data) != "one" {
		t.Fatalf("LoadKeySet = %q, %d, %v; want one, 1", data, v, err)
	}
	data[0] = 'X'
	if string(s.Data()) != "one" {
		t.Fatal("LoadKeySet returned the stored slice, not a copy")
	}
	if version, swaps := s.Stats(); version != 1 || swaps != 1 {
		t.Fatalf("Stats = %d, %d; want 1, 1", version, swaps)
	}
}

func TestStoreHooks(t *testing.T) {
	ctx := context.Background()
	var s keystest.Store
	boom := errors.New("connection refused")
	s.SetLoadErr(boom)
	if _, _, err := s.LoadKeySet(ctx); !errors.Is(err, boom) {
		t.Fatalf("LoadKeySet error = %v, want %v", err, boom)
	}
	s.SetLoadErr(nil)
	loads := 0
	s.SetOnLoad(func() { loads++ })
	s.LoadKeySet(ctx)
	s.SetOnLoad(nil)
	s.LoadKeySet(ctx)
	if loads != 1 {
		t.Fatalf("onLoad called %d times, want 1", loads)
	}
	s.SetData([]byte("garbage"))
	if data, v, _ := s.LoadKeySet(ctx); string(data) != "garbage" || v != 0 {
		t.Fatalf("after SetData: %q at version %d, want garbage at 0", data, v)
	}
}
