package keys

import (
	"encoding/json"
	"fmt"
	"time"
)

// setFormat is the version of the serialized form; Unmarshal refuses
// others rather than guess.
const setFormat = 1

// setRecord is the serialized form of a Set (JSON), stored as one blob.
type setRecord struct {
	Format    int             `json:"format"`
	Retention string          `json:"retention"` // Go duration
	Keys      []keyRecord     `json:"keys"`
	Revoked   []revokedRecord `json:"revoked,omitempty"`
}

// keyRecord is one key; its private key is PKCS#8 DER sealed with the
// Sealer under AAD = kid, so a sealed key moved to another record does not
// open.
type keyRecord struct {
	KID       string    `json:"kid"`
	Alg       string    `json:"alg"`
	State     State     `json:"state"`
	Created   time.Time `json:"created"`
	Activates time.Time `json:"activates,omitzero"`
	Retires   time.Time `json:"retires,omitzero"`
	SealedKey []byte    `json:"sealed_key"` // base64 in JSON
	// KEK is the id (KEKID) of the key-encryption key that sealed
	// SealedKey; empty in records written before the keyring.
	KEK string `json:"kek,omitempty"`
}

// revokedRecord is the tombstone of a revoked key: no key material.
type revokedRecord struct {
	KID     string    `json:"kid"`
	Revoked time.Time `json:"revoked"`
}

// Marshal serializes set, sealing every private key with sealer.
func Marshal(set Set, sealer *Sealer) ([]byte, error) {
	rec := setRecord{
		Format:    setFormat,
		Retention: set.retention.String(),
		Keys:      make([]keyRecord, 0, len(set.keys)),
	}
	for _, k := range set.keys {
		der, err := k.marshalPrivate()
		if err != nil {
			return nil, fmt.Errorf("marshal key set: %w", err)
		}
		sealed, err := sealer.Seal(der, []byte(k.kid))
		clear(der)
		if err != nil {
			return nil, fmt.Errorf("marshal key set: %w", err)
		}
		rec.Keys = append(rec.Keys, keyRecord{
			KID: k.kid, Alg: k.alg, State: k.state,
			Created: k.created, Activates: k.activates, Retires: k.retires,
			SealedKey: sealed, KEK: sealer.KeyID(),
		})
	}
	for _, kid := range set.Revoked() {
		rec.Revoked = append(rec.Revoked, revokedRecord{KID: kid, Revoked: set.revoked[kid]})
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("marshal key set: %w", err)
	}
	return data, nil
}

// Unmarshal parses data made by Marshal, opening every private key with
// sealer (ErrSealed if it is the wrong one) and checking each against its
// algorithm and kid. Keys are parsed once here and kept in the Set.
func Unmarshal(data []byte, sealer *Sealer) (Set, error) {
	var rec setRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return Set{}, fmt.Errorf("unmarshal key set: %w", err)
	}
	if rec.Format != setFormat {
		return Set{}, fmt.Errorf("unmarshal key set: unknown format %d", rec.Format)
	}
	retention, err := time.ParseDuration(rec.Retention)
	if err != nil {
		return Set{}, fmt.Errorf("unmarshal key set: retention: %w", err)
	}
	set := Set{retention: retention}
	if len(rec.Revoked) > 0 {
		set.revoked = make(map[string]time.Time, len(rec.Revoked))
		for _, r := range rec.Revoked {
			set.revoked[r.KID] = r.Revoked
		}
	}
	keys := make([]Key, 0, len(rec.Keys))
	seen := make(map[string]bool, len(rec.Keys))
	active := 0
	for _, r := range rec.Keys {
		_, revoked := set.revoked[r.KID]
		if seen[r.KID] || revoked {
			return Set{}, fmt.Errorf("unmarshal key set: key %s: %w", r.KID, ErrKeyReused)
		}
		seen[r.KID] = true
		k, err := r.open(sealer)
		if err != nil {
			return Set{}, fmt.Errorf("unmarshal key set: %w", err)
		}
		if k.state == Active {
			active++
		}
		keys = append(keys, k)
	}
	if active > 1 {
		return Set{}, fmt.Errorf("unmarshal key set: %d active keys: %w", active, ErrTransition)
	}
	return set.with(keys), nil
}

func (r keyRecord) open(sealer *Sealer) (Key, error) {
	if r.State < Next || r.State > Retired {
		return Key{}, fmt.Errorf("open key %s: no state", r.KID)
	}
	der, _, err := sealer.OpenFrom(r.SealedKey, []byte(r.KID), r.KEK)
	if err != nil {
		return Key{}, fmt.Errorf("unseal key %s: %w", r.KID, err)
	}
	pair, err := parsePrivate(r.KID, r.Alg, der)
	clear(der)
	if err != nil {
		return Key{}, err
	}
	return Key{
		kid: r.KID, alg: r.Alg, state: r.State,
		created: r.Created, activates: r.Activates, retires: r.Retires,
		priv: pair,
	}, nil
}
