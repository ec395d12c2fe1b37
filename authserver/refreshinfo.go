package authserver

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrNotOurRefreshToken reports a text that is not a refresh token issued
// under any of the given keys: mangled, forged, or issued under a
// key-encryption key that is no longer configured.
var ErrNotOurRefreshToken = errors.New("not a refresh token issued under the configured keys.encryption_key or keys.previous_encryption_keys")

// RefreshTokenInfo is what a refresh token carries about itself.
type RefreshTokenInfo struct {
	FamilyID   string // the session: `authserver sessions revoke --family`
	Generation uint32 // how many refreshes preceded this token
}

// InspectRefreshToken authenticates a refresh token with the MAC keys of
// the keyring (DeriveRefreshKey of keys.encryption_key, then of each
// previous key) and returns the family and generation it carries. It
// reads no store: an operator holding a stolen token finds its session
// with it (`authserver sessions find --token -`).
func InspectRefreshToken(token string, current []byte, previous ...[]byte) (RefreshTokenInfo, error) {
	c := refreshCodec{macKeys: append([][]byte{current}, previous...)}
	rt, err := c.parse(token)
	if err != nil {
		return RefreshTokenInfo{}, ErrNotOurRefreshToken
	}
	return RefreshTokenInfo{FamilyID: rt.familyID, Generation: rt.generation}, nil
}

// newRefreshCodec returns the codec of the keyring current, previous...,
// counting the tokens it accepts per key in
// authserver_refresh_tokens_presented_total under the label ids[i] (the
// key-encryption key's id; "current" and "previous-N" without ids), so
// that an operator sees when no session presents a token under a
// previous key any more.
func newRefreshCodec(m *metrics, ids []string, current []byte, previous ...[]byte) refreshCodec {
	c := refreshCodec{macKeys: append([][]byte{current}, previous...)}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authserver_refresh_tokens_presented_total",
		Help: "Refresh tokens accepted (refresh, revocation, introspection), by the id of the key-encryption key they were issued under.",
	}, []string{"encryption_key"})
	m.reg.MustRegister(vec)
	for i := range c.macKeys {
		label := "current"
		switch {
		case len(ids) == len(c.macKeys):
			label = ids[i]
		case i > 0:
			label = fmt.Sprintf("previous-%d", i)
		}
		c.presented = append(c.presented, vec.WithLabelValues(label))
	}
	return c
}
