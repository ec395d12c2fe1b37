package keys_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

func TestInitCreatesFirstKey(t *testing.T) {
	st := &keystest.Store{}
	m := keys.NewManager(st, newSealer(t), keys.Options{Algorithm: keys.EdDSA, Logger: quiet})
	if m.Ready() {
		t.Fatal("ready before Init")
	}
	if _, err := m.Sign([]byte(`{}`)); !errors.Is(err, keys.ErrNotReady) {
		t.Fatalf("Sign before Init: %v, want ErrNotReady", err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !m.Ready() {
		t.Fatal("not ready after Init")
	}
	infos := m.Keys()
	if len(infos) != 1 || infos[0].State != keys.Active || infos[0].Algorithm != keys.EdDSA {
		t.Fatalf("Keys = %+v, want one active EdDSA key", infos)
	}
	if version, swaps := st.Stats(); version != 1 || swaps != 1 {
		t.Fatalf("store version %d after %d swaps, want 1 and 1", version, swaps)
	}
}

func TestInitConcurrentReplicasCreateOneKey(t *testing.T) {
	st := &keystest.Store{}
	sealer := newSealer(t)
	const n = 8
	var (
		wg       sync.WaitGroup
		managers [n]*keys.Manager
		errs     [n]error
	)
	for i := range n {
		managers[i] = keys.NewManager(st, sealer, keys.Options{Algorithm: keys.ES256, Logger: quiet})
		wg.Go(func() { errs[i] = managers[i].Init(context.Background()) })
	}
	wg.Wait()
	want := activeKID(managers[0])
	for i, m := range managers {
		if errs[i] != nil {
			t.Fatalf("manager %d: %v", i, errs[i])
		}
		if got := activeKID(m); got != want || m.Set().Len() != 1 {
			t.Fatalf("manager %d: active %q of %d keys, want %q alone", i, got, m.Set().Len(), want)
		}
	}
	if _, swaps := st.Stats(); swaps != 1 {
		t.Fatalf("%d keys sets written, want exactly 1", swaps)
	}
}

func TestInitRefuses(t *testing.T) {
	stored := &keystest.Store{}
	newManager(t, stored, nil, keys.Options{Algorithm: keys.EdDSA, Logger: quiet})
	for _, tc := range []struct {
		name    string
		st      *keystest.Store
		opts    keys.Options
		wantErr error
	}{
		{"wrong-kek", stored, keys.Options{Algorithm: keys.EdDSA}, keys.ErrSealed},
		{"hs256", &keystest.Store{}, keys.Options{Algorithm: "HS256"}, keys.ErrAlgorithm},
		{"none", &keystest.Store{}, keys.Options{Algorithm: "none"}, keys.ErrAlgorithm},
		{"rsa-1024", &keystest.Store{}, keys.Options{RSABits: 1024}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = quiet
			m := keys.NewManager(tc.st, newSealer(t), tc.opts)
			err := m.Init(context.Background())
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("Init error = %v, want %v", err, tc.wantErr)
			}
			if m.Ready() {
				t.Fatal("ready after a failed Init")
			}
		})
	}
}

// TestChangeSeenByOtherReplica: a rotation by one process (the CLI, or
// another replica) reaches a running server within 2 seconds.
func TestChangeSeenByOtherReplica(t *testing.T) {
	st, sealer := &keystest.Store{}, newSealer(t)
	opts := keys.Options{Algorithm: keys.EdDSA, PollInterval: 20 * time.Millisecond}
	server := newManager(t, st, sealer, opts)
	cli := newManager(t, st, sealer, opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go server.Run(ctx)

	for _, tc := range []struct {
		name   string
		change func() (wantActive string, err error)
	}{
		{"rotate-now", func() (string, error) {
			k, err := cli.Rotate(ctx, true)
			return k.KID(), err
		}},
		{"revoke-active", func() (string, error) {
			err := cli.Revoke(ctx, activeKID(cli))
			return activeKID(cli), err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.change()
			if err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 2*time.Second, "the server to sign with "+want, func() bool { return activeKID(server) == want })
		})
	}
}

func TestScheduledRotation(t *testing.T) {
	clk := newClock()
	opts := keys.Options{
		Algorithm: keys.EdDSA, PollInterval: 5 * time.Millisecond, Now: clk.Now,
		PublishAhead: 10 * time.Minute, AccessTTL: 15 * time.Minute, Skew: time.Minute,
	}
	m := newManager(t, nil, nil, opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old := activeKID(m)
	oldToken, err := m.Sign([]byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}

	next, err := m.Rotate(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if next.State() != keys.Next || !next.Activates().Equal(clk.Now().Add(10*time.Minute)) {
		t.Fatalf("rotated key %v activates %v", next, next.Activates())
	}
	go m.Run(ctx)

	if activeKID(m) != old {
		t.Fatal("the new key signs before it was published for PublishAhead")
	}
	clk.Advance(10 * time.Minute)
	testutil.Eventually(t, 2*time.Second, "the due key to be promoted", func() bool { return activeKID(m) == next.KID() })

	oldKey, ok := m.Set().Key(old)
	if !ok || oldKey.State() != keys.Retired || !oldKey.Retires().Equal(clk.Now().Add(16*time.Minute)) {
		t.Fatalf("old key %v retires %v, want retired at now+16m", oldKey, oldKey.Retires())
	}
	if _, kid, err := m.Verify([]byte(oldToken)); err != nil || kid != old {
		t.Fatalf("token of the retired key: kid %q, %v", kid, err)
	}

	clk.Advance(16 * time.Minute)
	testutil.Eventually(t, 2*time.Second, "the retired key to be pruned", func() bool {
		_, ok := m.Set().Key(old)
		return !ok
	})
	if _, _, err := m.Verify([]byte(oldToken)); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("token of a pruned key: %v", err)
	}
}

func TestManagerRetireAndRevoke(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		rotate     bool // add a next key first
		op         func(m *keys.Manager, kid string) error
		wantErr    error
		wantListed bool // the old key is still in the set
	}{
		{"retire-with-next", true, func(m *keys.Manager, kid string) error { return m.Retire(ctx, kid) }, nil, true},
		{"retire-without-next", false, func(m *keys.Manager, kid string) error { return m.Retire(ctx, kid) }, keys.ErrNoSuccessor, true},
		{"revoke-with-next", true, func(m *keys.Manager, kid string) error { return m.Revoke(ctx, kid) }, nil, false},
		{"revoke-without-next-generates-successor", false, func(m *keys.Manager, kid string) error { return m.Revoke(ctx, kid) }, nil, false},
		{"revoke-unknown", false, func(m *keys.Manager, _ string) error { return m.Revoke(ctx, "nope") }, keys.ErrUnknownKey, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, nil, nil, keys.Options{Algorithm: keys.EdDSA, Logger: quiet})
			old := activeKID(m)
			if tc.rotate {
				if _, err := m.Rotate(ctx, false); err != nil {
					t.Fatal(err)
				}
			}
			token, _ := m.Sign([]byte(`{}`))
			err := tc.op(m, old)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if !m.Ready() {
				t.Fatal("no active key left")
			}
			if err == nil && activeKID(m) == old {
				t.Fatal("the old key still signs")
			}
			_, listed := m.Set().Key(old)
			_, _, verr := m.Verify([]byte(token))
			if listed != tc.wantListed || (verr == nil) != tc.wantListed {
				t.Fatalf("old key listed=%v, its token verifies=%v; want %v", listed, verr == nil, tc.wantListed)
			}
		})
	}
}

func TestReloadKeepsLastGoodSet(t *testing.T) {
	st := &keystest.Store{}
	m := newManager(t, st, nil, keys.Options{Algorithm: keys.EdDSA, Logger: quiet})
	st.SetLoadErr(errors.New("connection refused"))
	if err := m.Reload(context.Background()); err == nil {
		t.Fatal("Reload hid a store error")
	}
	if _, err := m.Sign([]byte(`{}`)); err != nil || !m.Ready() {
		t.Fatalf("stopped signing on a store error: %v", err)
	}

	st.SetLoadErr(nil)
	st.SetData([]byte("garbage at the same version"))
	if err := m.Reload(context.Background()); err != nil {
		t.Fatalf("Reload parsed an unchanged version: %v", err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	m := newManager(t, nil, nil, keys.Options{Algorithm: keys.EdDSA, PollInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestSignDuringRotation signs and verifies from several goroutines while
// the set changes under them (run with -race).
func TestSignDuringRotation(t *testing.T) {
	ctx := context.Background()
	st, sealer := &keystest.Store{}, newSealer(t)
	opts := keys.Options{Algorithm: keys.ES256}
	m := newManager(t, st, sealer, opts)
	cli := newManager(t, st, sealer, opts)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				token, err := m.Sign([]byte(claims))
				if err == nil {
					_, _, err = m.Verify([]byte(token))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 3 {
		if _, err := cli.Rotate(ctx, true); err != nil {
			t.Fatal(err)
		}
		if err := m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if activeKID(m) != activeKID(cli) || m.Set().Len() != 4 {
		t.Fatalf("after 3 rotations: %v vs %v", m.Set(), cli.Set())
	}
}
