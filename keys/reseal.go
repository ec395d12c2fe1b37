package keys

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
)

// EventResealed is the audit event of a key set sealed again with the
// current key-encryption key: fields kek (the current key's id), from (the
// ids the records were sealed with before; "unknown" for records written
// before ids were stored) and keys (how many records).
const EventResealed = "key_set_resealed"

// ResealReport says what Reseal did and what still depends on which
// key-encryption key.
type ResealReport struct {
	// Current is the id of keys.encryption_key.
	Current string
	// Previous are the ids of keys.previous_encryption_keys.
	Previous []string
	// Resealed is the number of records this call sealed again.
	Resealed int
	// SealedBy counts the stored records per id of the key that sealed
	// them, after the call: only Current, unless another writer stored a
	// set under another key meanwhile.
	SealedBy map[string]int
}

// Reseal stores the key set again with every private key sealed under the
// current key-encryption key, if any record is sealed under another one
// (or under a key whose id was not recorded). It writes with
// compare-and-swap, so of several replicas starting at once one reseals
// and the others find nothing to do; it changes no key, only how they are
// sealed, so the JWKS and every token stay as they were.
func (m *Manager) Reseal(ctx context.Context) (ResealReport, error) {
	rep := ResealReport{Current: m.sealer.KeyID(), Previous: m.sealer.PreviousKeyIDs()}
	for range maxUpdateAttempts {
		data, version, err := m.store.LoadKeySet(ctx)
		if err != nil {
			return rep, fmt.Errorf("reseal key set: %w", err)
		}
		if version == 0 {
			rep.SealedBy = map[string]int{}
			return rep, nil
		}
		before, err := sealedBy(data)
		if err != nil {
			return rep, fmt.Errorf("reseal key set: %w", err)
		}
		stale := 0
		for id, n := range before {
			if id != rep.Current {
				stale += n
			}
		}
		if stale == 0 {
			rep.SealedBy = before
			return rep, nil
		}
		set, err := Unmarshal(data, m.sealer)
		if err != nil {
			return rep, fmt.Errorf("reseal key set: %w", err)
		}
		fresh, err := Marshal(set, m.sealer)
		if err != nil {
			return rep, fmt.Errorf("reseal key set: %w", err)
		}
		newVersion, swapped, err := m.store.SwapKeySet(ctx, version, fresh)
		if err != nil {
			return rep, fmt.Errorf("reseal key set: %w", err)
		}
		if !swapped {
			continue
		}
		rep.Resealed = stale
		rep.SealedBy = map[string]int{rep.Current: set.Len()}
		from := slices.Sorted(maps.Keys(before))
		m.log.LogAttrs(ctx, slog.LevelInfo, "key set sealed with the current encryption key",
			slog.String("log", "audit"), slog.String("event", EventResealed),
			slog.String("kek", rep.Current), slog.Any("from", from), slog.Int("keys", set.Len()))
		return rep, m.install(newVersion, set)
	}
	return rep, fmt.Errorf("reseal key set: lost %d races to other writers", maxUpdateAttempts)
}

// sealedBy counts the records of a stored key set per key-encryption key
// id, reading only the ids: "unknown" stands for records stored without
// one.
func sealedBy(data []byte) (map[string]int, error) {
	var rec struct {
		Keys []struct {
			KEK string `json:"kek"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("read key set: %w", err)
	}
	out := map[string]int{}
	for _, k := range rec.Keys {
		id := k.KEK
		if id == "" {
			id = "unknown"
		}
		out[id]++
	}
	return out, nil
}
