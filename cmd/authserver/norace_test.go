//go:build !race

package main

import "time"

// refreshP99Limit bounds the refresh p99 during TestHostileClients'
// password flood (see race_test.go).
const refreshP99Limit = 50 * time.Millisecond
