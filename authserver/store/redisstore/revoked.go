package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// A revoked access token is an empty string at revokedKey(jti) whose
// native expiry is the end of its denial.

// RevokeToken denies jti until until, in one MULTI round trip. Revoking a
// jti again keeps the later of the two ends.
func (s *Store) RevokeToken(ctx context.Context, jti string, until time.Time) error {
	k, ms := s.revokedKey(jti), millis(until)
	return s.replicated(ctx, "revoke token", k, func(c writer) error {
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Do(ctx, "SET", k, "", "PXAT", ms, "NX")
			p.Do(ctx, "PEXPIREAT", k, ms, "GT")
			return nil
		})
		if errors.Is(err, redis.Nil) {
			err = nil // SET NX found the key; PEXPIREAT GT did the rest
		}
		return wrap("revoke token", err)
	})
}

// IsRevoked reports whether jti is denied at now.
func (s *Store) IsRevoked(ctx context.Context, jti string, now time.Time) (bool, error) {
	until, err := s.client.Do(ctx, "PEXPIRETIME", s.revokedKey(jti)).Int64()
	if err != nil {
		return false, wrap("check revoked token", err)
	}
	return until > millis(now), nil
}
