package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// A lockout window is a string at lockoutKey(key) holding the count, whose
// native expiry is the end of the window: PEXPIRETIME reads it back
// exactly, so the key needs nothing else.

// addFailureScript counts one failure at now ARGV[1] in the window at
// KEYS[1], opening a window of ARGV[2] ms if none is open at now. It
// replies {count, window end}.
var addFailureScript = redis.NewScript(`
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local untilMs = redis.call('PEXPIRETIME', KEYS[1])
if untilMs <= now then
	untilMs = now + window
	redis.call('SET', KEYS[1], 1, 'PXAT', string.format('%.0f', untilMs))
	return {1, untilMs}
end
return {redis.call('INCR', KEYS[1]), untilMs}
`)

// AddFailure counts one failure for key at now and returns the count in
// the current window and its end, in one script run. A window opens at the
// first failure and lasts window; a failure at or after its end opens a
// new one.
func (s *Store) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	reply, err := addFailureScript.Run(ctx, s.client, []string{s.lockoutKey(key)}, millis(now), window.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, time.Time{}, wrap("add login failure", err)
	}
	if len(reply) != 2 {
		return 0, time.Time{}, fmt.Errorf("add login failure: unexpected script reply %v", reply)
	}
	return int(reply[0]), fromMillis(reply[1]), nil
}

// refundFailureScript takes back one failure at now ARGV[1] from the
// window at KEYS[1], deleting the window when none is left. A window that
// ended (PEXPIRETIME at or before now) or does not exist (-2) is left
// alone. SET KEEPTTL rather than DECR, so that the ACL of docs/redis.md
// needs no new command.
var refundFailureScript = redis.NewScript(`
local untilMs = redis.call('PEXPIRETIME', KEYS[1])
if untilMs <= tonumber(ARGV[1]) then
	return 0
end
local n = tonumber(redis.call('GET', KEYS[1])) - 1
if n <= 0 then
	redis.call('DEL', KEYS[1])
else
	redis.call('SET', KEYS[1], n, 'KEEPTTL')
end
return 1
`)

// RefundFailure takes back one failure of the window of key open at now,
// in one script run; the window keeps its end.
func (s *Store) RefundFailure(ctx context.Context, key string, now time.Time) error {
	err := refundFailureScript.Run(ctx, s.client, []string{s.lockoutKey(key)}, millis(now)).Err()
	return wrap("refund login failure", err)
}

// Failures returns the count of the window open at now (0 if none) and
// when it ends: one MULTI round trip.
func (s *Store) Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	k := s.lockoutKey(key)
	var count *redis.StringCmd
	var until *redis.Cmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		count = p.Get(ctx, k)
		until = p.Do(ctx, "PEXPIRETIME", k)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, wrap("get login failures", err)
	}
	n, err := count.Int()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("get login failures: %w", err)
	}
	u, err := until.Int64()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("get login failures: %w", err)
	}
	if u <= millis(now) {
		return 0, time.Time{}, nil
	}
	return n, fromMillis(u), nil
}

// ResetFailures forgets the failures of key.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	return wrap("reset login failures", s.client.Del(ctx, s.lockoutKey(key)).Err())
}
