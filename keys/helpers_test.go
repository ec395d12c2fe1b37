package keys_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/keys"
)

// memStore is an in-memory keys.Store: one versioned blob behind a mutex.
type memStore struct {
	mu      sync.Mutex
	data    []byte
	version int64
	swaps   int   // successful swaps
	loadErr error // returned by LoadKeySet when set
}

var _ keys.Store = (*memStore)(nil)

func (s *memStore) LoadKeySet(context.Context) ([]byte, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadErr != nil {
		return nil, 0, s.loadErr
	}
	return append([]byte(nil), s.data...), s.version, nil
}

func (s *memStore) SwapKeySet(_ context.Context, version int64, data []byte) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if version != s.version {
		return s.version, false, nil
	}
	s.data = append([]byte(nil), data...)
	s.version++
	s.swaps++
	return s.version, true, nil
}

func (s *memStore) setLoadErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loadErr = err
}

func (s *memStore) stats() (version int64, swaps int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.swaps
}

// quiet discards the logs of Managers under test.
var quiet = slog.New(slog.DiscardHandler)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newKEK(t testing.TB) []byte {
	t.Helper()
	kek := make([]byte, keys.KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	return kek
}

func newSealer(t testing.TB) *keys.Sealer {
	t.Helper()
	s, err := keys.NewSealer(newKEK(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newManager returns an initialized Manager on st (a fresh store if nil).
func newManager(t testing.TB, st *memStore, sealer *keys.Sealer, opts keys.Options) *keys.Manager {
	t.Helper()
	if st == nil {
		st = &memStore{}
	}
	if sealer == nil {
		sealer = newSealer(t)
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	m := keys.NewManager(st, sealer, opts)
	if err := m.Init(context.Background()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return m
}

// eventually waits up to timeout for cond, checking it every few
// milliseconds.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

func activeKID(m *keys.Manager) string {
	k, _ := m.Set().Active()
	return k.KID()
}
