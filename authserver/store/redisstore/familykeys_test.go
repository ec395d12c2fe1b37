package redisstore

import (
	"encoding/base64"
	"strconv"
	"testing"
	"time"
)

func TestFamilyKeys(t *testing.T) {
	s := &Store{prefix: "P:"}
	b64 := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name, id      string
		family, grace string
	}{
		{"server-id", b64([]byte("0123456789abcdef")), "P:f0123456789abcdef", "P:g{P:f0123456789abcdef}"},
		// Its bytes would move the hash tag: named in text.
		{"server-id-with-brace", b64([]byte("0123456789abcde}")), "P:f{MDEyMzQ1Njc4OWFiY2RlfQ}", "P:f{MDEyMzQ1Njc4OWFiY2RlfQ}g"},
		{"text-id", "fam-1", "P:f{fam-1}", "P:f{fam-1}g"},
		// 22 characters, but not the canonical text of 16 bytes.
		{"non-canonical", "MDEyMzQ1Njc4OWFiY2RlZh", "P:f{MDEyMzQ1Njc4OWFiY2RlZh}", "P:f{MDEyMzQ1Njc4OWFiY2RlZh}g"},
		{"braces", "}a{", "P:fx{7d617b}", "P:fx{7d617b}g"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			family, grace := s.familyKeys(tc.id)
			if family != tc.family || grace != tc.grace {
				t.Errorf("familyKeys(%q) = %q, %q; want %q, %q", tc.id, family, grace, tc.family, tc.grace)
			}
		})
	}
}

func TestIndexMember(t *testing.T) {
	server := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef"))
	tests := []struct{ id, member string }{
		{server, "0123456789abcdef"},
		{"fam-1", "fam-1"},
		{"0123456789abcde", "0123456789abcde"},      // 15 bytes
		{"0123456789abcdef", "~0123456789abcdef"},   // 16 bytes, not a server id's bytes
		{"~0123456789abcdef", "~~0123456789abcdef"}, // 17
		{"MDEyMzQ1Njc4OWFiY2RlZh", "~MDEyMzQ1Njc4OWFiY2RlZh"},
	}
	for _, tc := range tests {
		if got := indexMember(tc.id); got != tc.member {
			t.Errorf("indexMember(%q) = %q, want %q", tc.id, got, tc.member)
		}
		if got := memberFamilyID(tc.member); got != tc.id {
			t.Errorf("memberFamilyID(%q) = %q, want %q", tc.member, got, tc.id)
		}
	}
}

func TestDeadlineScore(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	tests := []struct {
		t    time.Time
		want int64
	}{
		{at, 1_800_000_000},
		{at.Add(time.Millisecond), 1_800_000_001},
		{at.Add(-time.Millisecond), 1_800_000_000},
		{time.Unix(-10, 500), -9},
	}
	for _, tc := range tests {
		if got := deadlineScore(tc.t); got != tc.want {
			t.Errorf("deadlineScore(%v) = %d, want %d", tc.t, got, tc.want)
		}
		// An entry is never pruned while its family may live.
		alive := tc.t.Add(-time.Nanosecond)
		if dead, _ := strconv.ParseInt(deadScore(alive), 10, 64); dead >= tc.want {
			t.Errorf("deadScore(%v) = %d prunes a family that lives until %v", alive, dead, tc.t)
		}
	}
}
