package redisstore

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Family ids are random (the server's: 16 bytes, unpadded base64url), so
// their bytes make the shortest key names and index members. Memory goes
// by allocator size class: with the default prefix "authserver:", a family
// key named by the 16 bytes (28 characters) takes a 32-byte allocation,
// one named by the 22 characters (or "f:{ID}") a 48-byte one.

// rawIDLen is the length of the server's family ids, decoded.
const rawIDLen = 16

// rawFamilyID returns the 16 bytes that id stands for if id is in the
// server's form, the canonical unpadded base64url text of 16 bytes.
func rawFamilyID(id string) (string, bool) {
	if len(id) != base64.RawURLEncoding.EncodedLen(rawIDLen) {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) != rawIDLen || base64.RawURLEncoding.EncodeToString(b) != id {
		return "", false
	}
	return string(b), true
}

// familyKeys returns the key of the family record of id, and the key of
// its grace record, which must live in the same Cluster slot.
//
// A server id whose bytes hold no brace is named by its bytes, without a
// hash tag, so its slot is that of the whole name; the grace key then
// takes the whole family key as its hash tag:
//
//	P "f" BYTES          P "g{" P "f" BYTES "}"
//
// Any other id is named in text, as the hash tag of both keys (in hex if
// it has a brace of its own, which would move the tag):
//
//	P "f{" ID "}"        P "f{" ID "}g"
//	P "fx{" HEX "}"      P "fx{" HEX "}g"
//
// The forms never meet: only the first has no brace, and only the grace
// keys end in "}g" or start with "g{".
func (s *Store) familyKeys(id string) (family, grace string) {
	if raw, ok := rawFamilyID(id); ok && !strings.ContainsAny(raw, "{}") {
		family = s.prefix + "f" + raw
		return family, s.prefix + "g{" + family + "}"
	}
	if strings.ContainsAny(id, "{}") {
		family = s.prefix + "fx{" + hex.EncodeToString([]byte(id)) + "}"
	} else {
		family = s.prefix + "f{" + id + "}"
	}
	return family, family + "g"
}

// indexMember returns the member that stands for family id in its user's
// index: the 16 bytes of a server id, and any other id as it is, with a
// leading '~' if it is 16 bytes or longer, so that only server ids are
// exactly 16 bytes long.
func indexMember(id string) string {
	if raw, ok := rawFamilyID(id); ok {
		return raw
	}
	if len(id) >= rawIDLen {
		return "~" + id
	}
	return id
}

// memberFamilyID is the inverse of indexMember.
func memberFamilyID(m string) string {
	switch {
	case len(m) == rawIDLen:
		return base64.RawURLEncoding.EncodeToString([]byte(m))
	case len(m) > rawIDLen:
		return m[1:]
	}
	return m
}

// indexEntry returns the member of family id, made at credential version
// version, in its user's index: the version as a Uvarint (one byte below
// 128), then indexMember(id). The version is what a user change reads to
// know which families predate it (users.go, changeUser).
func indexEntry(id string, version uint64) string {
	return string(binary.AppendUvarint(nil, version)) + indexMember(id)
}

// parseIndexMember is the inverse of indexEntry; false for a member that
// is not a family entry.
func parseIndexMember(m string) (id string, version uint64, ok bool) {
	version, n := binary.Uvarint([]byte(m))
	if n <= 0 || n == len(m) {
		return "", 0, false
	}
	return memberFamilyID(m[n:]), version, true
}

// The index scores a family by its absolute deadline in whole Unix seconds,
// rounded up, so that the listpack stores it in 4 bytes (until 2038)
// rather than the 8 of milliseconds. Rounding up keeps the index an
// over-approximation: an entry is dropped only once its deadline has
// surely passed.

// deadlineScore is the index score of a family that dies at t.
func deadlineScore(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}

// deadScore returns the highest score of a family surely dead at now, as
// a ZRANGEBYSCORE bound.
func deadScore(now time.Time) string { return strconv.FormatInt(now.Unix(), 10) }
