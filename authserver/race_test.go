//go:build race

package authserver_test

// raceBuild: the race detector's instrumentation allocates, so the
// allocation ceilings are not checked under it.
const raceBuild = true
