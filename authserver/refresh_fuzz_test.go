package authserver

import (
	"encoding/binary"
	"strings"
	"testing"
)

// FuzzRefreshParse feeds arbitrary text to the refresh-token parser, which
// runs on every token, revocation and introspection request before any
// MAC check: it never panics, and the one token it accepts is the one the
// codec issued (anything else would be a forgery or a second spelling).
func FuzzRefreshParse(f *testing.F) {
	c := refreshCodec{macKeys: [][]byte{[]byte("fuzz-refresh-mac-key-0123456789a")}}
	// The one genuine token is built from fixed bytes: every fuzzing
	// worker runs this setup again and must know the same token.
	raw := make([]byte, refreshBodyLen, refreshRawLen)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	raw[0] = refreshVersion
	binary.BigEndian.PutUint32(raw[1+familyIDLen:], 7)
	raw = append(raw, mac(c.macKeys[0], raw)...)
	fid := b64url.EncodeToString(raw[1 : 1+familyIDLen])
	valid := refreshToken{text: b64url.EncodeToString(raw)}
	if _, err := c.parse(valid.text); err != nil {
		f.Fatalf("the genuine token does not parse: %v", err)
	}
	f.Add(valid.text)
	f.Add(valid.text[:91] + "\n")
	f.Add(strings.Repeat("A", 92))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		rt, err := c.parse(s)
		if err != nil {
			return
		}
		if s != valid.text {
			t.Fatalf("parse accepted %q, which it did not issue", s)
		}
		if rt.familyID != fid || rt.generation != 7 || len(rt.raw) != refreshRawLen {
			t.Fatalf("parse = %+v, want family %s generation 7", rt, fid)
		}
	})
}
