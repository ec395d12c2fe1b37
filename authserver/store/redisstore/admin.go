package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
)

// The names of all users are also members of the sorted set
// userNamesKey(), every one scored 0, so that ZRANGEBYLEX reads a page of
// names in byte order without loading them all. CreateUser adds a name in
// the pipeline that lists it in usersKey(), DeleteUser removes it in the
// pipeline that unlists it. Names listed only in usersKey() (written by
// an older binary, or by a writer that knows only that set) are copied
// over when a first page finds the sorted set smaller than the set.
func (s *Store) userNamesKey() string { return s.prefix + "usernames" }

// idempotencyKey holds one store.IdempotencyRecord as JSON, expiring with
// it.
func (s *Store) idempotencyKey(key string) string { return s.prefix + "idem:" + key }

// reserveScript sets KEYS[1] to ARGV[1] expiring at ARGV[2] (Unix ms)
// unless it exists, and replies nil if it did, else the existing value.
var reserveScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
return false
`)

// GetUserByID returns the user whose id is id: its name is the +inf
// member of the id's index (see CreateUser), then the user is read by name.
func (s *Store) GetUserByID(ctx context.Context, id string) (store.User, error) {
	members, err := s.client.ZRangeByScore(ctx, s.userIDKey(id), &redis.ZRangeBy{Min: "+inf", Max: "+inf", Count: 1}).Result()
	if err != nil {
		return store.User{}, wrap("get user by id", err)
	}
	if len(members) == 0 || len(members[0]) < 2 {
		return store.User{}, fmt.Errorf("get user by id %s: %w", id, store.ErrNotFound)
	}
	u, err := s.GetUser(ctx, members[0][1:])
	if err != nil {
		return store.User{}, err
	}
	if u.ID != id {
		// Claimed by a create that lost its name, or a user being deleted.
		return store.User{}, fmt.Errorf("get user by id %s: %w", id, store.ErrNotFound)
	}
	return u, nil
}

// ListUsersAfter returns at most limit users named after after, ordered
// by name: ZRANGEBYLEX on userNamesKey() then one pipeline of reads,
// again while names of no user (deleted meanwhile) leave the page short.
func (s *Store) ListUsersAfter(ctx context.Context, after string, limit int) ([]store.User, error) {
	if after == "" {
		if err := s.indexUserNames(ctx); err != nil {
			return nil, err
		}
	}
	users := []store.User{}
	for len(users) < limit {
		min := "-"
		if after != "" {
			min = "(" + after
		}
		names, err := s.client.ZRangeByLex(ctx, s.userNamesKey(), &redis.ZRangeBy{Min: min, Max: "+", Count: int64(limit - len(users))}).Result()
		if err != nil {
			return nil, wrap("list users", err)
		}
		if len(names) == 0 {
			break
		}
		cmds := make([]*redis.MapStringStringCmd, len(names))
		if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, name := range names {
				cmds[i] = p.HGetAll(ctx, s.userKey(name))
			}
			return nil
		}); err != nil {
			return nil, wrap("list users", err)
		}
		for i, c := range cmds {
			if len(c.Val()) == 0 {
				continue // listed, but deleted or never created
			}
			u, err := decodeUser(names[i], c.Val())
			if err != nil {
				return nil, fmt.Errorf("list users: %w", err)
			}
			users = append(users, u)
		}
		after = names[len(names)-1]
	}
	return users, nil
}

// indexUserNames copies the names of usersKey() into userNamesKey() when
// the sorted set holds fewer: two O(1) counts in the common case.
func (s *Store) indexUserNames(ctx context.Context) error {
	var set, zset *redis.IntCmd
	if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		set, zset = p.SCard(ctx, s.usersKey()), p.ZCard(ctx, s.userNamesKey())
		return nil
	}); err != nil {
		return wrap("list users: count", err)
	}
	if zset.Val() >= set.Val() {
		return nil
	}
	var cursor uint64
	for {
		names, next, err := s.client.SScan(ctx, s.usersKey(), cursor, "", listBatch).Result()
		if err != nil {
			return wrap("list users: index names", err)
		}
		if len(names) > 0 {
			zs := make([]redis.Z, len(names))
			for i, n := range names {
				zs[i] = redis.Z{Member: n}
			}
			if err := s.client.ZAdd(ctx, s.userNamesKey(), zs...).Err(); err != nil {
				return wrap("list users: index names", err)
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// updateAttempts bounds the compare-and-swap retries of UpdateClaims.
const updateAttempts = 16

// swapClaimsScript sets the claims field of the user hash KEYS[1] to
// ARGV[1] ("" for none) if the fields i, p, d, v and c are still
// ARGV[2..6] (see snapshot); it replies 1 if it did.
var swapClaimsScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'i', 'p', 'd', 'v', 'c')
for i = 1, 5 do
	if (cur[i] or '\0') ~= ARGV[i + 1] then return 0 end
end
redis.call('HSET', KEYS[1], 'c', ARGV[1])
return 1
`)

// UpdateClaims reads the named user, checks it, and swaps its claims in a
// script that fails if any field the check could see has changed since;
// on a failed swap it starts over, and the check sees the change.
func (s *Store) UpdateClaims(ctx context.Context, name string, claims map[string]string, check func(store.User) error) (store.User, error) {
	enc, err := claimsField(claims)
	if err != nil {
		return store.User{}, fmt.Errorf("update claims: %w", err)
	}
	key := s.userKey(name)
	for range updateAttempts {
		h, err := s.client.HGetAll(ctx, key).Result()
		if err != nil {
			return store.User{}, wrap("update claims", err)
		}
		if len(h) == 0 {
			return store.User{}, fmt.Errorf("update claims of %s: %w", name, store.ErrNotFound)
		}
		u, err := decodeUser(name, h)
		if err != nil {
			return store.User{}, fmt.Errorf("update claims: %w", err)
		}
		if err := check(u); err != nil {
			return store.User{}, fmt.Errorf("update claims of %s: %w", name, err)
		}
		var swapped int
		err = s.replicated(ctx, "update claims", key, func(c writer) error {
			var err error
			swapped, err = swapClaimsScript.Run(ctx, c, []string{key}, append([]any{enc}, snapshot(h)...)...).Int()
			return wrap("update claims", err)
		})
		if err != nil {
			return store.User{}, err
		}
		if swapped == 1 {
			u.Claims = claims
			if len(claims) == 0 {
				u.Claims = nil
			}
			return u, nil
		}
	}
	return store.User{}, fmt.Errorf("update claims of %s: too many concurrent writers: %w", name, store.ErrUnavailable)
}

// idempotencyJSON is the stored form of a store.IdempotencyRecord.
type idempotencyJSON struct {
	Fingerprint string `json:"f"`
	Status      int    `json:"s"`
	ContentType string `json:"t,omitempty"`
	Location    string `json:"l,omitempty"`
	ETag        string `json:"g,omitempty"`
	Body        []byte `json:"b,omitempty"`
	Expires     int64  `json:"e"` // Unix ms
}

func encodeIdempotency(rec store.IdempotencyRecord) ([]byte, error) {
	return json.Marshal(idempotencyJSON{
		Fingerprint: rec.Fingerprint, Status: rec.Status, ContentType: rec.ContentType,
		Location: rec.Location, ETag: rec.ETag, Body: rec.Body, Expires: rec.Expires.UnixMilli(),
	})
}

// ReserveIdempotencyKey stores rec unless its key exists: one script,
// one key, expiring at rec.Expires.
func (s *Store) ReserveIdempotencyKey(ctx context.Context, rec store.IdempotencyRecord, _ time.Time) (store.IdempotencyRecord, bool, error) {
	rec.Status = 0
	val, err := encodeIdempotency(rec)
	if err != nil {
		return store.IdempotencyRecord{}, false, fmt.Errorf("reserve idempotency key: %w", err)
	}
	got, err := reserveScript.Run(ctx, s.client, []string{s.idempotencyKey(rec.Key)}, val, rec.Expires.UnixMilli()).Text()
	if errors.Is(err, redis.Nil) {
		return store.IdempotencyRecord{}, true, nil
	}
	if err != nil {
		return store.IdempotencyRecord{}, false, wrap("reserve idempotency key", err)
	}
	var j idempotencyJSON
	if err := json.Unmarshal([]byte(got), &j); err != nil {
		return store.IdempotencyRecord{}, false, fmt.Errorf("reserve idempotency key: decode: %w", err)
	}
	return store.IdempotencyRecord{
		Key: rec.Key, Fingerprint: j.Fingerprint, Status: j.Status, ContentType: j.ContentType,
		Location: j.Location, ETag: j.ETag, Body: j.Body, Expires: time.UnixMilli(j.Expires).UTC(),
	}, false, nil
}

// CompleteIdempotencyKey stores the answer of a reserved key.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, rec store.IdempotencyRecord) error {
	val, err := encodeIdempotency(rec)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	ms := rec.Expires.UnixMilli()
	if ms <= 0 || ms == math.MaxInt64 {
		return errors.New("complete idempotency key: no expiry")
	}
	key := s.idempotencyKey(rec.Key)
	return s.replicated(ctx, "complete idempotency key", key, func(c writer) error {
		return wrap("complete idempotency key", c.SetArgs(ctx, key, val, redis.SetArgs{ExpireAt: rec.Expires}).Err())
	})
}

// ReleaseIdempotencyKey deletes the record of key.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, key string) error {
	return wrap("release idempotency key", s.client.Del(ctx, s.idempotencyKey(key)).Err())
}
