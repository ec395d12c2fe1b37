package redisstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
)

// An authorization code is a hash at codeKey(hash) with field d (the JSON
// of store.AuthCode), e (its expiry, Unix ms) and, once redeemed, f (the
// family its redemption issued). The key's native expiry is the code's.

func (s *Store) codeKey(hash []byte) string { return s.prefix + "code:" + hex.EncodeToString(hash) }

// saveCodeScript stores the code at KEYS[1] unless the key exists:
// ARGV[1] the JSON, ARGV[2] the expiry in ms. It replies 1, or 0 when the
// key was taken.
var saveCodeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
	return 0
end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'e', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
`)

// redeemCodeScript marks the code at KEYS[1] used by family ARGV[1] at now
// ARGV[2]. It replies false for no live code, {1, data} for the winner and
// {0, data, family} for a code used before.
var redeemCodeScript = redis.NewScript(`
local d = redis.call('HGET', KEYS[1], 'd')
if not d or tonumber(redis.call('HGET', KEYS[1], 'e')) <= tonumber(ARGV[2]) then
	return false
end
local f = redis.call('HGET', KEYS[1], 'f')
if f then
	return {0, d, f}
end
redis.call('HSET', KEYS[1], 'f', ARGV[1])
return {1, d}
`)

// SaveCode stores c until c.ExpiresAt in one script run.
func (s *Store) SaveCode(ctx context.Context, c store.AuthCode) error {
	if len(c.Hash) == 0 {
		return errors.New("save code: empty hash")
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("save code: %w", err)
	}
	var n int64
	key := s.codeKey(c.Hash)
	err = s.replicated(ctx, "save code", key, func(w writer) error {
		var err error
		n, err = saveCodeScript.Run(ctx, w, []string{key}, data, millis(c.ExpiresAt)).Int64()
		return wrap("save code", err)
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("save code: %w", store.ErrAlreadyExists)
	}
	return nil
}

// RedeemCode marks the code used in one script run; see store.AuthCodes.
func (s *Store) RedeemCode(ctx context.Context, hash []byte, familyID string, now time.Time) (store.AuthCode, error) {
	// Replicated, so that a failover cannot bring back a code as unused.
	var reply []any
	key := s.codeKey(hash)
	err := s.replicated(ctx, "redeem code", key, func(w writer) error {
		var err error
		reply, err = redeemCodeScript.Run(ctx, w, []string{key}, familyID, millis(now)).Slice()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("redeem code: %w", store.ErrNotFound)
		}
		return wrap("redeem code", err)
	})
	if err != nil {
		return store.AuthCode{}, err
	}
	if len(reply) < 2 {
		return store.AuthCode{}, fmt.Errorf("redeem code: unexpected script reply %v", reply)
	}
	won, _ := reply[0].(int64)
	data, _ := reply[1].(string)
	var c store.AuthCode
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return store.AuthCode{}, fmt.Errorf("redeem code: decode: %w", err)
	}
	c.Hash = hash
	if won == 1 {
		c.FamilyID = familyID
		return c, nil
	}
	if len(reply) == 3 {
		c.FamilyID, _ = reply[2].(string)
	}
	return c, fmt.Errorf("redeem code: %w", store.ErrCodeUsed)
}
