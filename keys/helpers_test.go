package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

// quiet discards the logs of Managers under test.
var quiet = slog.New(slog.DiscardHandler)

// newClock returns a settable clock for Options.Now.
func newClock() *testutil.Clock {
	return testutil.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
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
func newManager(t testing.TB, st *keystest.Store, sealer *keys.Sealer, opts keys.Options) *keys.Manager {
	t.Helper()
	if st == nil {
		st = &keystest.Store{}
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

func activeKID(m *keys.Manager) string {
	k, _ := m.Set().Active()
	return k.KID()
}

// auditLog collects the JSON log lines of Managers under test.
type auditLog struct {
	testutil.LockedBuffer
}

func (l *auditLog) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// events returns the audit lines logged so far, in order.
func (l *auditLog) events(t *testing.T) []map[string]any {
	var out []map[string]any
	for line := range bytes.Lines(l.Bytes()) {
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
	return bytes.Count(l.Bytes(), []byte(`"event":"`+event+`"`))
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
