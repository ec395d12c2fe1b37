//go:build !unix

package keys_test

import "testing"

// reportCPU reports nothing where getrusage is missing.
func reportCPU(*testing.B) (stop func()) { return func() {} }
