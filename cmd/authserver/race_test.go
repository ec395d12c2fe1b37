//go:build race

package main

import "time"

// refreshP99Limit bounds the refresh p99 during TestHostileClients'
// password flood. The race detector slows the server several times (its
// figures go to the log); 50 ms is the bound of a normal build.
const refreshP99Limit = 250 * time.Millisecond
