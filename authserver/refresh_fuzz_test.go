package authserver

import (
	"strings"
	"testing"
)

// FuzzRefreshParse feeds arbitrary text to the refresh-token parser, which
// runs on every token, revocation and introspection request before any
// MAC check: it never panics, and the one token it accepts is the one the
// codec issued (anything else would be a forgery or a second spelling).
func FuzzRefreshParse(f *testing.F) {
	c := refreshCodec{macKey: []byte("fuzz-refresh-mac-key-0123456789a")}
	fid, err := newFamilyID()
	if err != nil {
		f.Fatal(err)
	}
	valid, err := c.issue(fid, 7)
	if err != nil {
		f.Fatal(err)
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
