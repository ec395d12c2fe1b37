//go:build !(openssl && cgo)

package main

import (
	"strings"
	"testing"

	"github.com/oauthkit/authserver/internal/testutil"
)

// TestOpenSSLSignerNotBuiltIn asks a binary built without OpenSSL for the
// openssl signer: it refuses to start, with one line saying how to build.
func TestOpenSSLSignerNotBuiltIn(t *testing.T) {
	_, stderr, code := cli(t, t.TempDir(), "", []string{"AUTHSERVER_KEYS_SIGNER=openssl", "AUTHSERVER_HTTP_ADDR=" + testutil.FreeAddr(t)}, "serve", "--dev")
	if code == 0 || !strings.Contains(stderr, "-tags openssl") {
		t.Fatalf("serve with keys.signer openssl in a Go-only build: exit %d, %q", code, stderr)
	}
}
