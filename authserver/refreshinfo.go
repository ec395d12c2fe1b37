package authserver

import "errors"

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
