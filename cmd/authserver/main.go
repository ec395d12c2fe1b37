// Command authserver is the OAuth2 token service: `authserver serve` runs
// it; the other commands administer users, keys, sessions and clients on
// the same store while servers run.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := execute(commandRoot(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "authserver: "+err.Error())
		os.Exit(1)
	}
}
