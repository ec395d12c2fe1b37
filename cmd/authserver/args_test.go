package main

import (
	"strings"
	"testing"
)

// TestUnknownCommand: a typo in a provisioning script fails with one line
// on stderr, for the root and every command group, instead of printing
// help and exiting 0.
func TestUnknownCommand(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"frobnicate"},
		{"users", "frobnicate"},
		{"keys", "frobnicate"},
		{"sessions", "frobnicate"},
		{"clients", "frobnicate"},
		{"config", "frobnicate"},
		{"users", "frobnicate", "bob"},
	} {
		out, stderr, code := cli(t, dir, "", nil, args...)
		want := `authserver: unknown command "frobnicate" for "authserver`
		if code == 0 || out != "" || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want non-zero, nothing on stdout, one line %q…", args, code, out, stderr, want)
		}
	}
	if _, stderr, code := cli(t, dir, "", nil, "config", "chek"); code == 0 || !strings.Contains(stderr, `did you mean "check"?`) {
		t.Errorf("config chek: exit %d, stderr %q; want a suggestion", code, stderr)
	}
	// A group alone still explains itself.
	if out, _, code := cli(t, dir, "", nil, "users"); code != 0 || !strings.Contains(out, "Available Commands:") {
		t.Errorf("users: exit %d, stdout %q; want its help", code, out)
	}
}
