package keys

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Maintain takes one maintenance step, the one Run takes every
// PollInterval: it reloads the stored set and then, writing only when
// there is something to do, promotes a next key whose activation time has
// come, adds a successor when scheduled rotation is due and prunes retired
// keys whose last token has expired. Of several replicas maintaining one
// store at the same moment exactly one stores each change: every decision
// is taken again, inside the compare-and-swap, on the freshly loaded set.
//
// With an injected clock, advancing it and calling Maintain drives the
// whole lifecycle without waiting.
func (m *Manager) Maintain(ctx context.Context) error {
	if err := m.Reload(ctx); err != nil {
		return err
	}
	if err := m.maintain(ctx); err != nil {
		return fmt.Errorf("maintain key set: %w", err)
	}
	return nil
}

// maintain is Maintain without the reload. A successor is generated before
// the compare-and-swap loop (RSA takes a while), when the loaded set shows
// that rotation is due; if the freshly stored set shows it is not (another
// replica rotated first), the key is discarded. If rotation became due
// only in the stored set, it waits for the next step rather than generate
// inside the loop.
func (m *Manager) maintain(ctx context.Context) error {
	cur := m.cur.Load()
	if cur == nil {
		return nil
	}
	now := m.opts.Now()
	loaded := cur.set.WithRetention(m.retention)
	planned, rotate, err := m.step(loaded, now, Key{})
	if err != nil {
		return err
	}
	if !rotate && planned.Equal(loaded) {
		return nil
	}
	var (
		fresh  Key
		genErr error
	)
	if rotate {
		// A failed generation must not hold up promotion and pruning:
		// they go ahead, and the error is returned with their result.
		if fresh, genErr = m.generate(now); genErr != nil {
			genErr = fmt.Errorf("rotate keys: %w", genErr)
		} else {
			// Scheduled from when it can be stored, not from before the
			// (possibly slow) generation, so it is published for the
			// whole of PublishAhead.
			now = m.opts.Now()
			fresh = fresh.WithActivates(now.Add(m.opts.PublishAhead))
		}
	}
	_, err = m.update(ctx, triggerSchedule, func(s Set) (Set, error) {
		out, _, err := m.step(s, now, fresh)
		return out, err
	})
	return errors.Join(genErr, err)
}

// step returns s after one maintenance step at now, and whether scheduled
// rotation is due: a due next key is promoted; then, if rotation is due,
// fresh (unless it is the zero Key) is added as the successor; expired
// retired keys are pruned. It is a pure function of its arguments, so it
// can run again on every compare-and-swap attempt.
func (m *Manager) step(s Set, now time.Time, fresh Key) (Set, bool, error) {
	if due, ok := s.Due(now); ok {
		var err error
		if s, err = s.Promote(due.kid, now); err != nil {
			return s, false, err
		}
	}
	rotate := m.rotationDue(s, now)
	if rotate && fresh.kid != "" {
		var err error
		if s, err = s.Add(fresh); err != nil {
			return s, true, err
		}
	}
	return s.Prune(now), rotate, nil
}

// rotationDue reports whether scheduled rotation must add a successor to s
// at now: rotation is on, no next key is scheduled to take over from the
// active key, and the active key will have signed for RotateEvery within
// PublishAhead.
//
// Measuring from the active key's activation (not its creation, which for
// a key promoted by hand may lie long before) and subtracting PublishAhead
// makes each key sign for RotateEvery exactly: its successor, added
// PublishAhead earlier, takes over at activation + RotateEvery. Keys are
// thus added every RotateEvery, and a late step (a replica that was down)
// rotates at once, its successor still published for PublishAhead.
func (m *Manager) rotationDue(s Set, now time.Time) bool {
	if m.opts.RotateEvery <= 0 {
		return false
	}
	active, ok := s.Active()
	if !ok {
		return false
	}
	if _, ok := s.scheduled(); ok {
		return false
	}
	since := active.activates
	if since.IsZero() {
		since = active.created
	}
	return !now.Before(since.Add(m.opts.RotateEvery - m.opts.PublishAhead))
}
