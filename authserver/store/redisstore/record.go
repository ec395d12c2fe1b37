package redisstore

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// A family is two Redis strings, each a compact binary record rather than
// a hash (a hash holding the sealed successor outgrows the compact
// listpack encoding and then costs several times the memory; figures in
// docs/redis.md, "Keys"):
//
//   - the family record, which lives as long as the family;
//   - the grace record, the previous token's hash and the sealed
//     successor, which serve only retries within the reuse grace and so
//     live only until LastUsed + the grace.
//
// Every integer is a varint (encoding/binary: Uvarint, or Varint, which
// is zig-zag), and every time is Unix milliseconds, stored relative to
// Created where it can be. The family record:
//
//	recordVersion          1 byte
//	Created                Varint, Unix ms
//	IdleTTL                Varint, ms
//	ExpiresAt - Created    Varint, ms
//	ClientID               Uvarint length, bytes
//	UserID                 Uvarint length<<2 | packed<<1 | versioned, bytes
//	CredentialVersion      Uvarint, only if versioned (0 otherwise)
//	Scope                  Uvarint length, bytes (space-separated)
//	Claims                 Uvarint length, bytes (JSON; empty when none)
//	LastUsed - Created     Varint, ms      \
//	Generation             Uvarint          > rewritten by every rotation
//	CurrentHash            the rest        /
//
// A user id that is unpadded base64url text (the server's "u_" and 22
// characters are) is stored decoded, with packed set: 18 bytes, not 24.
// The credential version of most families is 0, and then takes no byte.
//
// The grace record, whose layout goes with recordVersion:
//
//	Generation             Uvarint, the family's generation when written
//	PreviousHash           Uvarint length, bytes
//	RotationScope          Uvarint length, bytes (space-separated)
//	SealedNext             the rest
//
// An empty family record is a tombstone (users.go, revokeStaleScript): no
// family. The Redeem script (families.go) reads and writes both in Lua;
// keep the two in step, and bump recordVersion for any other layout.
const recordVersion = 3

// errBadRecord reports a stored family this code cannot read.
var errBadRecord = errors.New("malformed family record")

// encodeFamily returns the family record of f.
func encodeFamily(f store.Family) ([]byte, error) {
	for _, sc := range f.Scope {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n") {
			return nil, fmt.Errorf("encode family: scope %q is empty or contains white space", sc)
		}
	}
	var claims []byte
	if len(f.Claims) > 0 {
		var err error
		if claims, err = json.Marshal(f.Claims); err != nil {
			return nil, fmt.Errorf("encode family: claims: %w", err)
		}
	}
	user, packed := packUserID(f.UserID)
	scope := strings.Join(f.Scope, " ")
	created := millis(f.Created)
	rec := make([]byte, 0, 48+len(f.ClientID)+len(user)+len(scope)+len(claims)+len(f.CurrentHash))
	rec = append(rec, recordVersion)
	rec = binary.AppendVarint(rec, created)
	rec = binary.AppendVarint(rec, f.IdleTTL.Milliseconds())
	rec = binary.AppendVarint(rec, millis(f.ExpiresAt)-created)
	rec = appendText(rec, f.ClientID)
	if f.CredentialVersion == 0 {
		rec = binary.AppendUvarint(rec, uint64(len(user))<<2|packed<<1)
		rec = append(rec, user...)
	} else {
		rec = binary.AppendUvarint(rec, uint64(len(user))<<2|packed<<1|1)
		rec = append(rec, user...)
		rec = binary.AppendUvarint(rec, f.CredentialVersion)
	}
	rec = appendText(rec, scope)
	rec = appendText(rec, string(claims))
	rec = binary.AppendVarint(rec, millis(f.LastUsed)-created)
	rec = binary.AppendUvarint(rec, uint64(f.Generation))
	return append(rec, f.CurrentHash...), nil
}

func appendText(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decodeFamily parses the family record rec of family id and, if grace is
// the grace record of its current generation, takes PreviousHash and
// SealedNext from it. Any other grace record (none, or a stale one) leaves
// them empty.
func decodeFamily(id string, rec, grace []byte) (store.Family, error) {
	d := decoder{b: rec}
	if len(rec) == 0 || d.byte() != recordVersion {
		return store.Family{}, fmt.Errorf("decode family %s: %w", id, errBadRecord)
	}
	created := d.varint()
	f := store.Family{ID: id, Created: fromMillis(created)}
	f.IdleTTL = time.Duration(d.varint()) * time.Millisecond
	f.ExpiresAt = fromMillis(created + d.varint())
	f.ClientID = string(d.text(d.uvarint()))
	n := d.uvarint()
	f.UserID = unpackUserID(d.text(n>>2), n>>1&1)
	if n&1 == 1 {
		f.CredentialVersion = d.uvarint()
	}
	if scope := d.text(d.uvarint()); len(scope) > 0 {
		f.Scope = strings.Split(string(scope), " ")
	}
	claims := d.text(d.uvarint())
	f.LastUsed = fromMillis(created + d.varint())
	gen := d.uvarint()
	f.CurrentHash = nilIfEmpty(d.rest())
	if d.err || gen > math.MaxUint32 {
		return store.Family{}, fmt.Errorf("decode family %s: %w", id, errBadRecord)
	}
	f.Generation = uint32(gen)
	if len(claims) > 0 {
		if err := json.Unmarshal(claims, &f.Claims); err != nil {
			return store.Family{}, fmt.Errorf("decode family %s: claims: %w", id, err)
		}
	}
	if len(grace) > 0 {
		g := decoder{b: grace}
		gen := g.uvarint()
		previous := g.text(g.uvarint())
		scope := g.text(g.uvarint())
		sealed := g.rest()
		if g.err {
			return store.Family{}, fmt.Errorf("decode family %s: grace: %w", id, errBadRecord)
		}
		if gen == uint64(f.Generation) {
			f.PreviousHash, f.SealedNext = nilIfEmpty(previous), nilIfEmpty(sealed)
			if len(scope) > 0 {
				f.RotationScope = strings.Split(string(scope), " ")
			}
		}
	}
	return f, nil
}

// encodeGrace returns the grace record that the Redeem script writes
// after rotating to generation gen; tests use it to check the layout.
func encodeGrace(gen uint32, previous []byte, scope []string, sealed []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(gen))
	b = binary.AppendUvarint(b, uint64(len(previous)))
	b = append(b, previous...)
	b = appendText(b, strings.Join(scope, " "))
	return append(b, sealed...)
}

// decoder reads a record front to back; past a malformed part it returns
// zero values and sets err.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) text(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.err = true
		return nil
	}
	t := d.b[:n:n]
	d.b = d.b[n:]
	return t
}

func (d *decoder) rest() []byte {
	r := d.b
	d.b = nil
	return r
}

// packUserID returns the stored form of a user id and whether it is
// packed: the decoded bytes of unpadded base64url text, or the id itself.
func packUserID(id string) (string, uint64) {
	if len(id)%4 == 1 {
		return id, 0
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != id {
		return id, 0
	}
	return string(b), 1
}

func unpackUserID(b []byte, packed uint64) string {
	if packed == 1 {
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return string(b)
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
