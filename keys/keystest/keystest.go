// Package keystest provides an in-memory keys.Store for tests, so that
// every package that needs a key manager without a database uses the same
// one.
package keystest

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/oauthkit/authserver/keys"
)

// Store is an in-memory keys.Store: one versioned blob behind a mutex,
// with hooks for tests of failures and races. The zero value holds no key
// set and is ready to use.
type Store struct {
	mu      sync.Mutex
	data    []byte
	version int64
	swaps   int
	loadErr error
	onLoad  func()
}

var _ keys.Store = (*Store)(nil)

// LoadKeySet returns a copy of the blob and its version, or the error set
// by SetLoadErr. It calls the SetOnLoad hook after reading, outside the
// lock, so that the hook can swap the set behind the reader's back.
func (s *Store) LoadKeySet(context.Context) ([]byte, int64, error) {
	s.mu.Lock()
	hook := s.onLoad
	if s.loadErr != nil {
		s.mu.Unlock()
		return nil, 0, s.loadErr
	}
	data, version := append([]byte(nil), s.data...), s.version
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return data, version, nil
}

// SwapKeySet stores a copy of data if version is still the stored one.
func (s *Store) SwapKeySet(_ context.Context, version int64, data []byte) (int64, bool, error) {
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

// SetLoadErr makes LoadKeySet fail with err from now on; nil restores it.
func (s *Store) SetLoadErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loadErr = err
}

// SetOnLoad sets a function that LoadKeySet calls after each read; nil
// removes it.
func (s *Store) SetOnLoad(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onLoad = f
}

// SetData replaces the stored blob without changing its version, as a
// writer that ignores the protocol (or a corrupted database) would.
func (s *Store) SetData(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = append([]byte(nil), data...)
}

// Data returns a copy of the stored blob.
func (s *Store) Data() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.data...)
}

// Stats returns the stored version and the number of successful swaps.
func (s *Store) Stats() (version int64, swaps int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.swaps
}

// seeds caches one generated key set per key-encryption key: RSA key
// generation takes long enough to dominate a test that needs a fresh store.
var seeds sync.Map // string(kek) → []byte

// Seed stores in st, which must hold no key set yet, a set of one active
// RS256 key sealed with sealer, generated once per process and kek; kek
// is the key sealer was made with and names the cached set.
func Seed(t testing.TB, st keys.Store, sealer *keys.Sealer, kek []byte) {
	t.Helper()
	blob, ok := seeds.Load(string(kek))
	if !ok {
		mem := &Store{}
		m := keys.NewManager(mem, sealer, keys.Options{Logger: slog.New(slog.DiscardHandler)})
		if err := m.Init(context.Background()); err != nil {
			t.Fatalf("seed key set: %v", err)
		}
		blob, _ = seeds.LoadOrStore(string(kek), mem.Data())
	}
	if _, ok, err := st.SwapKeySet(context.Background(), 0, blob.([]byte)); err != nil || !ok {
		t.Fatalf("seed key set: %v %v", ok, err)
	}
}

// NewManager returns a manager over st, sealed with kek, with the key set
// of Seed stored in st and loaded: the key manager of a test server.
func NewManager(t testing.TB, st keys.Store, kek []byte, opts keys.Options) *keys.Manager {
	t.Helper()
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	Seed(t, st, sealer, kek)
	m := keys.NewManager(st, sealer, opts)
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}
