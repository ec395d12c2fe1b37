//go:build race

package main

import "time"

// refreshP99Limit bounds the refresh p99 during TestHostileClients'
// password flood. The race detector slows the server several times, and
// argon2 most (a login takes about 70 ms instead of 25), so its figures go
// to the log and the bound only catches starvation: refreshes queued
// behind the flood's hashes would wait seconds. 50 ms is the bound of a
// normal build.
const refreshP99Limit = time.Second
