package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
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
	swaps   int    // successful swaps
	loadErr error  // returned by LoadKeySet when set
	onLoad  func() // called by LoadKeySet after it read, outside the lock
}

var _ keys.Store = (*memStore)(nil)

func (s *memStore) LoadKeySet(context.Context) ([]byte, int64, error) {
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

func (s *memStore) setOnLoad(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onLoad = f
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

// auditLog collects the JSON log lines of Managers under test.
type auditLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *auditLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *auditLog) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// events returns the audit lines logged so far, in order.
func (l *auditLog) events(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range bytes.Lines(l.buf.Bytes()) {
		var ev map[string]any
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if ev["log"] == "audit" {
			out = append(out, ev)
		}
	}
	return out
}

func (l *auditLog) count(event string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Count(l.buf.Bytes(), []byte(`"event":"`+event+`"`))
}

// find returns the last audit line of event, or nil.
func (l *auditLog) find(t *testing.T, event string) map[string]any {
	var found map[string]any
	for _, ev := range l.events(t) {
		if ev["event"] == event {
			found = ev
		}
	}
	return found
}
