package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The key set is one hash at keySetKey() with the version and the blob. It
// has no expiry.
const (
	keySetFieldVersion = "v"
	keySetFieldData    = "d"
)

// swapKeySetScript stores ARGV[2] as the next version of the key set at
// KEYS[1] if its version is still ARGV[1] (a missing key is version 0),
// and then announces the new version on the channel ARGV[3]. It replies
// {1, new version} or {0, stored version}.
var swapKeySetScript = redis.NewScript(`
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return {0, v} end
v = v + 1
redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[2])
redis.call('PUBLISH', ARGV[3], v)
return {1, v}
`)

// keySetChannel is where every successful swap is announced.
func (s *Store) keySetChannel() string { return s.prefix + "keys-changed" }

// WatchKeySet returns a channel that receives a value after every
// successful SwapKeySet by any process on this Redis, through pub/sub, so
// that key managers reload at once rather than at their next poll. go-redis
// resubscribes after a lost connection; a message missed meanwhile is
// caught by the managers' poll. The subscription ends with ctx.
func (s *Store) WatchKeySet(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	sub := s.client.Subscribe(ctx, s.keySetChannel())
	go func() {
		defer sub.Close()
		msgs := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-msgs:
				if !ok {
					return
				}
				select {
				case out <- struct{}{}:
				default: // a reload is already due
				}
			}
		}
	}()
	return out
}

// LoadKeySet returns the stored key set and its version; nil and 0 when
// none was ever stored.
func (s *Store) LoadKeySet(ctx context.Context) ([]byte, int64, error) {
	vals, err := s.client.HMGet(ctx, s.keySetKey(), keySetFieldVersion, keySetFieldData).Result()
	if err != nil {
		return nil, 0, wrap("load key set", err)
	}
	v, ok := vals[0].(string)
	if !ok {
		return nil, 0, nil
	}
	version, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("load key set: version: %w", err)
	}
	data, _ := vals[1].(string)
	return []byte(data), version, nil
}

// SwapKeySet stores data as version+1 if version is still the stored one
// (0: none stored), in one script run. Otherwise it stores nothing and
// returns the stored version and false.
func (s *Store) SwapKeySet(ctx context.Context, version int64, data []byte) (int64, bool, error) {
	if data == nil {
		data = []byte{}
	}
	var reply []int64
	err := s.replicated(ctx, "swap key set", s.keySetKey(), func(c writer) error {
		var err error
		reply, err = swapKeySetScript.Run(ctx, c, []string{s.keySetKey()}, version, data, s.keySetChannel()).Int64Slice()
		return wrap("swap key set", err)
	})
	if err != nil {
		return 0, false, err
	}
	if len(reply) != 2 {
		return 0, false, fmt.Errorf("swap key set: unexpected script reply %v", reply)
	}
	return reply[1], reply[0] == 1, nil
}
