package keys

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Errors returned by Set transitions, wrapped with the operation and kid.
var (
	// ErrUnknownKey reports a kid that is not in the set.
	ErrUnknownKey = errors.New("unknown key")
	// ErrKeyReused reports an Add whose kid is in the set or was revoked
	// from it. Kids are thumbprints, so a newly generated key never
	// collides; the check keeps a revoked (compromised) key from coming
	// back. Pruned keys leave no tombstone, so that the stored set does
	// not grow with every rotation.
	ErrKeyReused = errors.New("key id already used")
	// ErrTransition reports a lifecycle step the key's state does not
	// allow (promoting a retired key, adding an active one, ...).
	ErrTransition = errors.New("invalid key transition")
	// ErrNoSuccessor reports that the active key cannot stop signing
	// because no next key is there to take over: rotate first.
	ErrNoSuccessor = errors.New("no next key to take over signing")
)

// Set is a key set: an immutable value in the manner of Vault's keyring.
// Every transition returns a new Set and leaves its receiver untouched, so
// a Set can be shared between goroutines without locks.
//
// Invariants kept by the methods: at most one key is active; a kid is
// never reused, not even after its key was revoked (revoked kids are kept
// as tombstones, without key material); retired keys carry the time they
// leave the set.
//
// The zero Set is empty with zero retention; see NewSet.
type Set struct {
	keys      []Key                // ordered by Created, then kid
	revoked   map[string]time.Time // kid → when it was revoked; never mutated
	retention time.Duration
}

// NewSet returns an empty set whose retired keys stay published for
// retention after they stop signing: the access-token lifetime plus a
// clock-skew margin, so that every token they signed can still be checked.
func NewSet(retention time.Duration) Set {
	return Set{retention: retention}
}

// Retention returns how long a key stays published after it is retired.
func (s Set) Retention() time.Duration { return s.retention }

// WithRetention returns s with another retention for keys retired from now
// on; keys already retired keep their Retires.
func (s Set) WithRetention(d time.Duration) Set {
	s.retention = d
	return s
}

// Len returns the number of keys in s (revoked keys excluded).
func (s Set) Len() int { return len(s.keys) }

// Key returns the key named kid.
func (s Set) Key(kid string) (Key, bool) {
	i := s.index(kid)
	if i < 0 {
		return Key{}, false
	}
	return s.keys[i], true
}

// Active returns the key that signs, if there is one.
func (s Set) Active() (Key, bool) {
	for _, k := range s.keys {
		if k.state == Active {
			return k, true
		}
	}
	return Key{}, false
}

// Published returns every key to publish in the JWKS: next, active and
// retired ones, ordered by creation. Revoked keys are not in a Set.
func (s Set) Published() []Key {
	return slices.Clone(s.keys)
}

// Revoked returns the kids of revoked keys, sorted.
func (s Set) Revoked() []string {
	kids := make([]string, 0, len(s.revoked))
	for kid := range s.revoked {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	return kids
}

// Add returns s with k added. k must be a next key (from GenerateKey)
// whose kid was never in s; the first key of a set becomes active with
// Promote.
func (s Set) Add(k Key) (Set, error) {
	switch {
	case k.kid == "" || k.priv == nil:
		return s, fmt.Errorf("add key: %w: no key material", ErrTransition)
	case k.state != Next:
		return s, fmt.Errorf("add key %s: is %s, not next: %w", k.kid, k.state, ErrTransition)
	case s.index(k.kid) >= 0:
		return s, fmt.Errorf("add key %s: %w", k.kid, ErrKeyReused)
	}
	if _, gone := s.revoked[k.kid]; gone {
		return s, fmt.Errorf("add key %s: revoked: %w", k.kid, ErrKeyReused)
	}
	out := s.with(append(slices.Clone(s.keys), k))
	return out, nil
}

// Promote returns s with the next key kid active from now on; the key
// active until then, if any, is retired and stays published for the
// set's retention.
func (s Set) Promote(kid string, now time.Time) (Set, error) {
	i := s.index(kid)
	if i < 0 {
		return s, fmt.Errorf("promote key %s: %w", kid, ErrUnknownKey)
	}
	if st := s.keys[i].state; st != Next {
		return s, fmt.Errorf("promote key %s: is %s, not next: %w", kid, st, ErrTransition)
	}
	keys := slices.Clone(s.keys)
	for j := range keys {
		if keys[j].state == Active {
			keys[j] = s.retired(keys[j], now)
		}
	}
	keys[i].state = Active
	keys[i].activates = now
	return s.with(keys), nil
}

// Retire returns s with key kid no longer signing (or, for a next key,
// never signing) but still published until now plus the retention.
// Retiring the active key promotes the newest next key in its place and
// fails with ErrNoSuccessor if there is none.
func (s Set) Retire(kid string, now time.Time) (Set, error) {
	i := s.index(kid)
	if i < 0 {
		return s, fmt.Errorf("retire key %s: %w", kid, ErrUnknownKey)
	}
	switch s.keys[i].state {
	case Retired:
		return s, fmt.Errorf("retire key %s: already retired: %w", kid, ErrTransition)
	case Active:
		succ, ok := s.successor()
		if !ok {
			return s, fmt.Errorf("retire key %s: %w", kid, ErrNoSuccessor)
		}
		out, err := s.Promote(succ.kid, now)
		if err != nil {
			return s, fmt.Errorf("retire key %s: %w", kid, err)
		}
		return out, nil
	}
	keys := slices.Clone(s.keys)
	keys[i] = s.retired(keys[i], now)
	return s.with(keys), nil
}

// Revoke returns s without key kid, which leaves the JWKS at once (the key
// is compromised): tokens it signed stop verifying. Its kid is kept as a
// tombstone so that it is never added again. Revoking the active key
// promotes the newest next key in its place and fails with ErrNoSuccessor
// if there is none: add a next key first (Manager.Revoke does).
func (s Set) Revoke(kid string, now time.Time) (Set, error) {
	i := s.index(kid)
	if i < 0 {
		return s, fmt.Errorf("revoke key %s: %w", kid, ErrUnknownKey)
	}
	out := s
	if s.keys[i].state == Active {
		succ, ok := s.successor()
		if !ok {
			return s, fmt.Errorf("revoke key %s: %w", kid, ErrNoSuccessor)
		}
		var err error
		if out, err = s.Promote(succ.kid, now); err != nil {
			return s, fmt.Errorf("revoke key %s: %w", kid, err)
		}
	}
	keys := slices.DeleteFunc(slices.Clone(out.keys), func(k Key) bool { return k.kid == kid })
	out = out.with(keys)
	out.revoked = make(map[string]time.Time, len(s.revoked)+1)
	for k, t := range s.revoked {
		out.revoked[k] = t
	}
	out.revoked[kid] = now
	return out, nil
}

// Prune returns s without the retired keys whose Retires is not after now:
// every token they signed has expired.
func (s Set) Prune(now time.Time) Set {
	keys := slices.DeleteFunc(slices.Clone(s.keys), func(k Key) bool {
		return k.state == Retired && !k.retires.After(now)
	})
	return s.with(keys)
}

// Due returns the next key that should start signing at now: the one with
// the latest Activates not after now, provided it is later than the
// active key's own activation (so an older schedule never undoes a newer
// promotion).
func (s Set) Due(now time.Time) (Key, bool) {
	var (
		due   Key
		found bool
	)
	active, hasActive := s.Active()
	for _, k := range s.keys {
		if k.state != Next || k.activates.IsZero() || k.activates.After(now) {
			continue
		}
		if hasActive && !k.activates.After(active.activates) {
			continue
		}
		if !found || k.activates.After(due.activates) {
			due, found = k, true
		}
	}
	return due, found
}

// String lists the keys of s (public fields only).
func (s Set) String() string {
	parts := make([]string, len(s.keys))
	for i, k := range s.keys {
		parts[i] = k.String()
	}
	return "keys.Set[" + strings.Join(parts, ", ") + "]"
}

// Format implements fmt.Formatter so that no verb prints key material.
func (s Set) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, s.String())
}

// Equal reports whether s and o hold the same keys in the same states and
// times, the same tombstones and the same retention.
func (s Set) Equal(o Set) bool {
	if s.retention != o.retention || len(s.revoked) != len(o.revoked) {
		return false
	}
	for kid, t := range s.revoked {
		if u, ok := o.revoked[kid]; !ok || !t.Equal(u) {
			return false
		}
	}
	return slices.EqualFunc(s.keys, o.keys, func(a, b Key) bool {
		return a.kid == b.kid && a.alg == b.alg && a.state == b.state &&
			a.created.Equal(b.created) && a.activates.Equal(b.activates) && a.retires.Equal(b.retires)
	})
}

// scheduled returns the next key that Due will promote once its time has
// come: the one with the earliest Activates after the active key's
// activation. Next keys promoted only by hand, and those whose time passed
// before the active key took over, are not scheduled.
func (s Set) scheduled() (Key, bool) {
	var (
		first Key
		found bool
	)
	active, hasActive := s.Active()
	for _, k := range s.keys {
		if k.state != Next || k.activates.IsZero() || (hasActive && !k.activates.After(active.activates)) {
			continue
		}
		if !found || k.activates.Before(first.activates) {
			first, found = k, true
		}
	}
	return first, found
}

// successor returns the newest next key.
func (s Set) successor() (Key, bool) {
	var (
		succ  Key
		found bool
	)
	for _, k := range s.keys {
		if k.state == Next && (!found || !k.created.Before(succ.created)) {
			succ, found = k, true
		}
	}
	return succ, found
}

func (s Set) retired(k Key, now time.Time) Key {
	k.state = Retired
	k.retires = now.Add(s.retention)
	return k
}

func (s Set) index(kid string) int {
	return slices.IndexFunc(s.keys, func(k Key) bool { return k.kid == kid })
}

// with returns s holding keys (owned by the callee), kept in order.
func (s Set) with(keys []Key) Set {
	slices.SortStableFunc(keys, func(a, b Key) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.kid, b.kid)
	})
	s.keys = keys
	return s
}
