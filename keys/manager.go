// Package keys manages the signing keys of authserver: their generation,
// sealing at rest (AES-256-GCM under keys.encryption_key), their
// next → active → retired lifecycle as immutable Set values, signing and
// verifying access tokens (JWS with jwx v2), and the pre-serialized JWKS.
//
// The key set is stored as one versioned blob through the small Store
// interface declared here, written with compare-and-swap so that of
// several replicas (and the CLI) changing it at once exactly one wins.
// A Manager polls the store and picks up changes made elsewhere within
// two poll intervals; it keeps its current state behind an atomic pointer,
// so Sign, Verify and ServeJWKS never lock. The same poll performs the
// scheduled lifecycle (Maintain): it adds a successor when rotation is
// due, promotes it once it has been published for PublishAhead and prunes
// retired keys whose last token has expired. Every change it stores is
// written to the audit log (see EventRotated and the events after it).
//
// Signatures are made by the backend named in Options.Signer: Go's crypto
// (the default, also under GOEXPERIMENT=boringcrypto) or, in a binary
// built with -tags openssl, OpenSSL's libcrypto for RS256. The active
// key is loaded into the backend once, when it becomes active.
package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by NewManager to zero Options fields.
const (
	DefaultAlgorithm    = RS256
	DefaultRSABits      = 2048
	DefaultPublishAhead = 10 * time.Minute
	DefaultAccessTTL    = 15 * time.Minute
	DefaultSkew         = time.Minute
	DefaultPollInterval = time.Second
)

// maxJWKSAge caps the JWKS max-age, in seconds.
const maxJWKSAge = 300

// maxUpdateAttempts bounds the compare-and-swap retries of Update.
const maxUpdateAttempts = 16

// ErrNotReady reports that no active key is loaded: Init has not
// succeeded yet.
var ErrNotReady = errors.New("no active signing key loaded")

// Options configures a Manager. Zero fields take the defaults above.
type Options struct {
	// Algorithm governs new keys only (default "RS256"): changing it and
	// rotating migrates, while keys of the old algorithm keep verifying
	// their tokens until they are retired and pruned.
	Algorithm    string
	RSABits      int           // default 2048
	PublishAhead time.Duration // default 10m; JWKS max-age is at most half of it
	// RotateEvery is how long each key signs before scheduled rotation
	// replaces it; 0 (the default) rotates only by hand. The successor is
	// added PublishAhead before that, so RotateEvery must exceed
	// PublishAhead.
	RotateEvery  time.Duration
	AccessTTL    time.Duration // tokens' lifetime, for retirement; default 15m
	Skew         time.Duration // clock-skew margin; default 1m
	PollInterval time.Duration // default 1s: changes by other processes are seen within 2s
	Now          func() time.Time
	Logger       *slog.Logger // default slog.Default(); audit lines go here too
	// Signer is the backend that makes signatures: SignerGo ("go", the
	// default) or SignerOpenSSL ("openssl", RS256 through libcrypto; the
	// binary must be built with -tags openssl, else Init fails with
	// ErrNoOpenSSL). It changes speed only: every backend makes the
	// same RS256 signatures, byte for byte.
	Signer string
}

func (o Options) withDefaults() Options {
	if o.Algorithm == "" {
		o.Algorithm = DefaultAlgorithm
	}
	if o.RSABits == 0 {
		o.RSABits = DefaultRSABits
	}
	if o.PublishAhead <= 0 {
		o.PublishAhead = DefaultPublishAhead
	}
	if o.AccessTTL <= 0 {
		o.AccessTTL = DefaultAccessTTL
	}
	if o.Skew <= 0 {
		o.Skew = DefaultSkew
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Signer == "" {
		o.Signer = SignerGo
	}
	return o
}

func (o Options) validate() error {
	switch o.Algorithm {
	case RS256:
		if o.RSABits < MinRSABits {
			return fmt.Errorf("check options: rsa bits %d below %d", o.RSABits, MinRSABits)
		}
	case ES256, EdDSA:
	default:
		return fmt.Errorf("check options: algorithm %q: %w", o.Algorithm, ErrAlgorithm)
	}
	if o.RotateEvery < 0 || (o.RotateEvery > 0 && o.RotateEvery <= o.PublishAhead) {
		return fmt.Errorf("check options: rotate every %v must be 0 or longer than publish ahead %v", o.RotateEvery, o.PublishAhead)
	}
	if err := checkSigner(o.Signer); err != nil {
		return fmt.Errorf("check options: %w", err)
	}
	return nil
}

// Manager holds the current key set of one process, signs with its active
// key, verifies with its published keys and serves the JWKS. Create it
// with NewManager, call Init once, then Run in a goroutine.
type Manager struct {
	store     Store
	sealer    *Sealer
	opts      Options
	retention time.Duration
	maxAge    int
	log       *slog.Logger

	cur atomic.Pointer[snapshot] // read without locks
	mu  sync.Mutex               // serializes writers of cur
}

// KeyInfo describes one key for `authserver keys list`.
type KeyInfo struct {
	KID       string
	Algorithm string
	State     State
	Created   time.Time
	Activates time.Time // zero: next key promoted only by hand
	Retires   time.Time // zero unless retired
}

// NewManager returns a Manager over st that seals keys with sealer.
// Retired keys stay published for opts.AccessTTL + opts.Skew.
func NewManager(st Store, sealer *Sealer, opts Options) *Manager {
	opts = opts.withDefaults()
	return &Manager{
		store:     st,
		sealer:    sealer,
		opts:      opts,
		retention: opts.AccessTTL + opts.Skew,
		maxAge:    min(maxJWKSAge, int(opts.PublishAhead/2/time.Second)),
		log:       opts.Logger,
	}
}

// Init loads the stored key set. If none is stored it generates the first
// key, active at once, and stores it with SwapKeySet(0, ...); when another
// replica stored one first, it loads the winner's set instead, so exactly
// one first key exists across replicas. It then runs one maintenance step,
// so that a replica that was down catches up at once: a next key whose
// activation has passed is promoted and an overdue rotation is scheduled;
// and it reseals the set if a record is sealed with a previous
// key-encryption key (see Reseal).
// A failure of that step is logged, not returned: the loaded set serves
// and Run tries again.
func (m *Manager) Init(ctx context.Context) error {
	if err := m.opts.validate(); err != nil {
		return fmt.Errorf("init keys: %w", err)
	}
	if err := m.Reload(ctx); err != nil {
		return fmt.Errorf("init keys: %w", err)
	}
	if cur := m.cur.Load(); cur == nil || cur.set.Len() == 0 {
		if err := m.createFirst(ctx); err != nil {
			return fmt.Errorf("init keys: %w", err)
		}
	}
	if err := m.maintain(ctx); err != nil {
		m.log.Error("maintain signing keys", "err", err)
	}
	// A replica that starts with a new keys.encryption_key seals the set
	// with it; the others find nothing left to do.
	if _, err := m.Reseal(ctx); err != nil {
		m.log.Error("reseal signing keys", "err", err)
	}
	if !m.Ready() {
		m.log.Warn("key set has no active key: signing fails until one is promoted")
	}
	return nil
}

// createFirst stores a first key, active at once, unless another replica
// stored a set first.
func (m *Manager) createFirst(ctx context.Context) error {
	now := m.opts.Now()
	// Generated outside the swap, as Dex does: a loser discards it.
	first, err := m.generate(now)
	if err != nil {
		return err
	}
	_, err = m.update(ctx, triggerInit, func(s Set) (Set, error) {
		if s.Len() > 0 {
			return s, nil
		}
		s, err := s.Add(first)
		if err != nil {
			return s, err
		}
		return s.Promote(first.kid, now)
	})
	return err
}

// Reload reads the stored key set and makes it current if its version
// differs from the loaded one. An unchanged version costs one store read:
// nothing is unsealed or parsed. On error the loaded set stays in use.
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, version, err := m.store.LoadKeySet(ctx)
	if err != nil {
		return fmt.Errorf("reload key set: %w", err)
	}
	cur := m.cur.Load()
	if cur != nil && cur.version == version {
		return nil
	}
	if version == 0 {
		if cur != nil {
			return errors.New("reload key set: store holds none, keeping the loaded one")
		}
		return nil
	}
	set, err := Unmarshal(data, m.sealer)
	if err != nil {
		return fmt.Errorf("reload key set: %w", err)
	}
	return m.installLocked(version, set)
}

// Run calls Maintain every PollInterval, and at once whenever a store
// that is a Watcher reports a change, until ctx is done. Errors are
// logged (once until they change) and the last good set keeps serving.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	var changed <-chan struct{}
	if w, ok := m.store.(Watcher); ok {
		changed = w.WatchKeySet(ctx)
	}
	var failing string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case _, ok := <-changed:
			if !ok {
				changed = nil // the watch ended: polling alone from here
				continue
			}
		}
		err := m.Maintain(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && err.Error() != failing:
			failing = err.Error()
			m.log.Error("refresh signing keys", "err", err)
		case err == nil && failing != "":
			failing = ""
			m.log.Info("refresh signing keys: recovered")
		}
	}
}

// Update applies fn to the stored set and stores the result with
// compare-and-swap, calling fn again on the newer set when another writer
// won. fn must be a pure function of its argument (it may run several
// times), so a decision it makes is always taken on the freshly loaded
// set; returning its argument unchanged writes nothing. The set given to
// fn carries this Manager's retention. The result becomes current here at
// once, and every change it stored is written to the audit log.
func (m *Manager) Update(ctx context.Context, fn func(Set) (Set, error)) (Set, error) {
	return m.update(ctx, triggerUpdate, fn)
}

// update is Update with the trigger recorded in the audit log.
func (m *Manager) update(ctx context.Context, trigger string, fn func(Set) (Set, error)) (Set, error) {
	for range maxUpdateAttempts {
		set, version, err := m.loadForUpdate(ctx)
		if err != nil {
			return Set{}, fmt.Errorf("update key set: %w", err)
		}
		set = set.WithRetention(m.retention)
		next, err := fn(set)
		if err != nil {
			return Set{}, fmt.Errorf("update key set: %w", err)
		}
		if next.Equal(set) {
			return set, m.install(version, set)
		}
		data, err := Marshal(next, m.sealer)
		if err != nil {
			return Set{}, fmt.Errorf("update key set: %w", err)
		}
		newVersion, swapped, err := m.store.SwapKeySet(ctx, version, data)
		if err != nil {
			return Set{}, fmt.Errorf("update key set: %w", err)
		}
		if swapped {
			m.audit(trigger, set, next)
			return next, m.install(newVersion, next)
		}
	}
	return Set{}, fmt.Errorf("update key set: lost %d races to other writers", maxUpdateAttempts)
}

// loadForUpdate reads the stored set, reusing the parsed current set when
// the version is the loaded one.
func (m *Manager) loadForUpdate(ctx context.Context) (Set, int64, error) {
	data, version, err := m.store.LoadKeySet(ctx)
	if err != nil {
		return Set{}, 0, fmt.Errorf("load key set: %w", err)
	}
	if cur := m.cur.Load(); cur != nil && cur.version == version {
		return cur.set, version, nil
	}
	if version == 0 {
		return Set{}, 0, nil
	}
	set, err := Unmarshal(data, m.sealer)
	if err != nil {
		return Set{}, 0, fmt.Errorf("load key set: %w", err)
	}
	return set, version, nil
}

// install makes set current unless a newer version already is (a Reload
// may have run between our swap and now).
func (m *Manager) install(version int64, set Set) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur := m.cur.Load(); version == 0 || (cur != nil && cur.version >= version) {
		return nil
	}
	return m.installLocked(version, set)
}

func (m *Manager) installLocked(version int64, set Set) error {
	prev := m.cur.Load()
	snap, err := newSnapshot(version, set, prev, m.opts.Signer)
	if err != nil {
		return fmt.Errorf("install key set: %w", err)
	}
	m.cur.Store(snap)
	if prev == nil || prev.activeKID() != snap.activeKID() {
		m.log.Info("signing key set loaded", "version", version, "active_kid", snap.activeKID(), "keys", set.Len())
	}
	return nil
}

// Rotate generates a new key of Options.Algorithm and adds it as next. It
// starts signing once it has been published for PublishAhead (Maintain
// promotes it), or at once when immediate is set (an emergency: verifiers
// that cached the JWKS may reject its tokens until they refetch).
func (m *Manager) Rotate(ctx context.Context, immediate bool) (Key, error) {
	k, err := m.generate(m.opts.Now())
	if err != nil {
		return Key{}, fmt.Errorf("rotate keys: %w", err)
	}
	// Read after generating, which takes a while for RSA, so that the
	// key is published for the whole of PublishAhead.
	now := m.opts.Now()
	k = k.WithActivates(now.Add(m.opts.PublishAhead))
	set, err := m.update(ctx, triggerRotate, func(s Set) (Set, error) {
		s, err := s.Add(k)
		if err != nil || !immediate {
			return s, err
		}
		return s.Promote(k.kid, now)
	})
	if err != nil {
		return Key{}, fmt.Errorf("rotate keys: %w", err)
	}
	k, _ = set.Key(k.kid)
	return k, nil
}

// Retire stops key kid from signing and keeps it published until its last
// token has expired. Retiring the active key promotes the newest next key
// and fails with ErrNoSuccessor if there is none.
func (m *Manager) Retire(ctx context.Context, kid string) error {
	now := m.opts.Now()
	_, err := m.update(ctx, triggerRetire, func(s Set) (Set, error) { return s.Retire(kid, now) })
	return err
}

// Revoke removes key kid from the set and the JWKS at once (compromise):
// tokens it signed no longer verify. Revoking the active key promotes the
// newest next key, or a freshly generated one if there is none, so the
// service never stops signing.
func (m *Manager) Revoke(ctx context.Context, kid string) error {
	now := m.opts.Now()
	// The successor is generated before the swap loop when the loaded set
	// shows it will be needed, and inside it (once) only if the stored set
	// turns out to need one after all.
	var spare Key
	if cur := m.cur.Load(); cur != nil && cur.activeKID() == kid {
		if _, ok := cur.set.successor(); !ok {
			var err error
			if spare, err = m.generate(now); err != nil {
				return fmt.Errorf("revoke key %s: %w", kid, err)
			}
		}
	}
	_, err := m.update(ctx, triggerRevoke, func(s Set) (Set, error) {
		out, err := s.Revoke(kid, now)
		if !errors.Is(err, ErrNoSuccessor) {
			return out, err
		}
		if spare.kid == "" {
			if spare, err = m.generate(now); err != nil {
				return s, err
			}
		}
		if s, err = s.Add(spare); err != nil {
			return s, err
		}
		return s.Revoke(kid, now)
	})
	return err
}

// generate creates a next key of the configured algorithm.
func (m *Manager) generate(now time.Time) (Key, error) {
	return GenerateKey(m.opts.Algorithm, m.opts.RSABits, now)
}

// Ready reports whether an active key is loaded, so that Sign works.
func (m *Manager) Ready() bool {
	cur := m.cur.Load()
	return cur != nil && cur.signer != nil
}

// Set returns the loaded key set (empty before Init).
func (m *Manager) Set() Set {
	if cur := m.cur.Load(); cur != nil {
		return cur.set
	}
	return Set{}
}

// Keys describes every loaded key, ordered by creation.
func (m *Manager) Keys() []KeyInfo {
	keys := m.Set().Published()
	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		out[i] = KeyInfo{
			KID: k.kid, Algorithm: k.alg, State: k.state,
			Created: k.created, Activates: k.activates, Retires: k.retires,
		}
	}
	return out
}
