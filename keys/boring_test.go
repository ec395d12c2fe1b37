//go:build goexperiment.boringcrypto

package keys

import "crypto/boring"

func init() { onBoring = boring.Enabled() }
