package redisstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// A family is one Redis string, a compact binary record rather than a
// hash: the sealed successor (about 120 bytes) is longer than the 64
// bytes up to which Redis keeps a hash in its compact listpack encoding,
// and a hash in its table encoding costs 2.6 times the memory (measured on
// Redis 7.0: 1,221 against 469 bytes per family). Lua reads and rewrites
// the record with struct.pack and struct.unpack. Layout, big-endian:
//
//	offset size
//	0      1    recordVersion
//	1      8    Created, Unix ms (signed)
//	9      8    LastUsed, Unix ms
//	17     8    IdleTTL, ms
//	25     8    ExpiresAt, Unix ms
//	33     4    Generation
//	37     ...  seven strings, each a 2-byte length and the bytes:
//	            ClientID, UserID, Scope (space-separated),
//	            Claims (JSON object, empty when there are none),
//	            CurrentHash, PreviousHash, SealedNext
//
// The Redeem script copies the client-to-claims strings as they are and
// rewrites the header fields and the last three strings; keep the two in
// step, and bump recordVersion for any other layout.
const (
	recordVersion = 1
	headerLen     = 37
	maxField      = math.MaxUint16
)

// encodeFamily returns the stored form of f.
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
	fields := [][]byte{
		[]byte(f.ClientID), []byte(f.UserID), []byte(strings.Join(f.Scope, " ")), claims,
		f.CurrentHash, f.PreviousHash, f.SealedNext,
	}
	n := headerLen
	for _, b := range fields {
		if len(b) > maxField {
			return nil, errors.New("encode family: a field is longer than 65535 bytes")
		}
		n += 2 + len(b)
	}
	rec := make([]byte, 0, n)
	rec = append(rec, recordVersion)
	rec = binary.BigEndian.AppendUint64(rec, uint64(millis(f.Created)))
	rec = binary.BigEndian.AppendUint64(rec, uint64(millis(f.LastUsed)))
	rec = binary.BigEndian.AppendUint64(rec, uint64(f.IdleTTL.Milliseconds()))
	rec = binary.BigEndian.AppendUint64(rec, uint64(millis(f.ExpiresAt)))
	rec = binary.BigEndian.AppendUint32(rec, f.Generation)
	for _, b := range fields {
		rec = binary.BigEndian.AppendUint16(rec, uint16(len(b)))
		rec = append(rec, b...)
	}
	return rec, nil
}

// errBadRecord reports a stored family this code cannot read.
var errBadRecord = errors.New("malformed family record")

// decodeFamily parses the stored form of family id.
func decodeFamily(id string, rec []byte) (store.Family, error) {
	if len(rec) < headerLen || rec[0] != recordVersion {
		return store.Family{}, fmt.Errorf("decode family %s: %w", id, errBadRecord)
	}
	i64 := func(off int) int64 { return int64(binary.BigEndian.Uint64(rec[off:])) }
	f := store.Family{
		ID:         id,
		Created:    fromMillis(i64(1)),
		LastUsed:   fromMillis(i64(9)),
		IdleTTL:    time.Duration(i64(17)) * time.Millisecond,
		ExpiresAt:  fromMillis(i64(25)),
		Generation: binary.BigEndian.Uint32(rec[33:]),
	}
	rest := rec[headerLen:]
	var fields [7][]byte
	for i := range fields {
		if len(rest) < 2 {
			return store.Family{}, fmt.Errorf("decode family %s: %w", id, errBadRecord)
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n {
			return store.Family{}, fmt.Errorf("decode family %s: %w", id, errBadRecord)
		}
		fields[i], rest = rest[2:2+n:2+n], rest[2+n:]
	}
	if len(rest) != 0 {
		return store.Family{}, fmt.Errorf("decode family %s: %w", id, errBadRecord)
	}
	f.ClientID, f.UserID = string(fields[0]), string(fields[1])
	if len(fields[2]) > 0 {
		f.Scope = strings.Split(string(fields[2]), " ")
	}
	if len(fields[3]) > 0 {
		if err := json.Unmarshal(fields[3], &f.Claims); err != nil {
			return store.Family{}, fmt.Errorf("decode family %s: claims: %w", id, err)
		}
	}
	f.CurrentHash, f.PreviousHash, f.SealedNext = nilIfEmpty(fields[4]), nilIfEmpty(fields[5]), nilIfEmpty(fields[6])
	return f, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
