// Package testutil holds the helpers that tests of several packages need:
// a free TCP address, a log sink safe for concurrent writers, a settable
// clock, a wait for a condition with a deadline, and verification of a
// token with go-jose, a JOSE library other than the jwx that signs.
//
// It is imported only by tests.
package testutil

import (
	"net"
	"sync"
	"testing"
	"time"
)

// FreeAddr returns a 127.0.0.1 address ("host:port") whose port was free a
// moment ago. Another process may take it before the caller listens on it,
// so use it only where the listener is opened by someone else (a child
// process, a server configured by address).
func FreeAddr(t testing.TB) string {
	t.Helper()
	handedMu.Lock()
	defer handedMu.Unlock()
	// The kernel may offer a port again as soon as it is closed: two calls
	// of one test (a server's address and its admin address) must not get
	// the same one.
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !handed[addr] {
			handed[addr] = true
			return addr
		}
	}
	t.Fatalf("find a free port: every port offered was handed out before")
	return ""
}

var (
	handedMu sync.Mutex
	handed   = map[string]bool{} // addresses FreeAddr returned in this process
)

// Eventually waits until cond returns true, as WaitFor does, and fails t
// with what if cond still does not hold after timeout. It replaces fixed
// sleeps: the test goes on the moment the condition holds.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !WaitFor(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// WaitFor reports whether cond returned true within timeout, checking it
// at once and then at intervals growing from 1 ms to 50 ms. Use it instead
// of Eventually where a failure should report more than a sentence (a
// child process's log, the last value seen).
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		timer := time.NewTimer(wait)
		<-timer.C
		wait = min(2*wait, 50*time.Millisecond)
	}
	return true
}
