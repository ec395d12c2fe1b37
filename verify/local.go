package verify

import (
	"fmt"
	"slices"
)

// NewLocal returns a Verifier for tokens that an issuer in the same
// process signed, such as an authorization server checking the tokens
// sent to its own API: check verifies the compact JWS (its header, the
// key it names, the signature) against the issuer's own keys and returns
// the payload, in place of a JWKS fetched over HTTP. Verify then checks
// the claims as it does for New's Verifiers (iss, aud, exp, nbf, iat,
// the required scopes). New's options about fetching (WithHTTPClient,
// WithJWKSURL) and algorithms are the check's business and are ignored.
func NewLocal(issuer string, check func(token []byte) (payload []byte, err error), opts ...Option) (*Verifier, error) {
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if err := c.validate(issuer); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if check == nil {
		return nil, fmt.Errorf("verify: nil check")
	}
	v := &Verifier{
		issuer:   issuer,
		audience: c.audience,
		leeway:   c.leeway,
		scopes:   slices.Clone(c.scopes),
		realm:    c.realm,
		now:      c.now,
		log:      c.logger,
		local:    check,
	}
	if v.realm == "" {
		v.realm = v.audience
	}
	if v.realm == "" {
		v.realm = issuer
	}
	return v, nil
}

// verifyLocal is verify for a Verifier made by NewLocal.
func (v *Verifier) verifyLocal(token string) (*Claims, error) {
	payload, err := v.local([]byte(token))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(c); err != nil {
		return nil, err
	}
	return c, nil
}
