package keys

import (
	"context"
	"log/slog"
)

// Audit events: the event field of the audit log lines a Manager writes,
// one per key and change, after a change is stored. The Manager writes
// them, not its callers, because both the server (scheduled maintenance)
// and the CLI change keys through it. Each line carries the fields
// log=audit, event, kid, alg and trigger (init, schedule, rotate, retire,
// revoke or update: what made the change), never key material.
const (
	// EventRotated: a new key was added (state next, or active at once).
	EventRotated = "key_rotated"
	// EventPromoted: a key became the active signer.
	EventPromoted = "key_promoted"
	// EventRetired: a key stopped signing (or will never sign); it stays
	// published until its retires time.
	EventRetired = "key_retired"
	// EventRevoked: a key was removed from the JWKS at once.
	EventRevoked = "key_revoked"
	// EventPruned: a retired key left the JWKS, its last token expired.
	EventPruned = "key_pruned"
)

// Triggers recorded with audit events.
const (
	triggerInit     = "init"
	triggerSchedule = "schedule"
	triggerRotate   = "rotate"
	triggerRetire   = "retire"
	triggerRevoke   = "revoke"
	triggerUpdate   = "update"
)

// audit logs what changed from before to after, which were just stored:
// added keys first, then promotions, retirements and removals, so a
// rotation reads in the order it happened. Deriving the events from the
// stored change, rather than from what the caller meant to do, logs each
// change exactly once however many compare-and-swap attempts it took.
func (m *Manager) audit(trigger string, before, after Set) {
	for _, k := range after.keys {
		if _, existed := before.Key(k.kid); !existed {
			m.auditKey(slog.LevelInfo, "signing key added", EventRotated, trigger, k,
				slog.String("state", k.state.String()), slog.Time("activates", k.activates))
		}
	}
	for _, k := range after.keys {
		if old, existed := before.Key(k.kid); k.state == Active && (!existed || old.state != Active) {
			m.auditKey(slog.LevelInfo, "signing key promoted", EventPromoted, trigger, k)
		}
	}
	for _, k := range after.keys {
		if old, existed := before.Key(k.kid); k.state == Retired && existed && old.state != Retired {
			m.auditKey(slog.LevelInfo, "signing key retired", EventRetired, trigger, k,
				slog.Time("retires", k.retires))
		}
	}
	for _, k := range before.keys {
		if _, ok := after.Key(k.kid); ok {
			continue
		}
		if _, revoked := after.revoked[k.kid]; revoked {
			m.auditKey(slog.LevelWarn, "signing key revoked", EventRevoked, trigger, k)
		} else {
			m.auditKey(slog.LevelInfo, "signing key pruned", EventPruned, trigger, k)
		}
	}
}

func (m *Manager) auditKey(level slog.Level, msg, event, trigger string, k Key, extra ...slog.Attr) {
	attrs := append([]slog.Attr{
		slog.String("log", "audit"),
		slog.String("event", event),
		slog.String("kid", k.kid),
		slog.String("alg", k.alg),
		slog.String("trigger", trigger),
	}, extra...)
	m.log.LogAttrs(context.Background(), level, msg, attrs...)
}
