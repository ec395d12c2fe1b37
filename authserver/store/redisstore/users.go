package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
)

// A user is a hash at userKey(name) with these fields. Its id is also the
// sorted set userIDKey(id), which holds the user's name, so that ids stay
// unique, and the user's family index (families.go): the name is the
// member nameMember(name) scored +inf, every family an entry scored by its
// absolute deadline, which is never infinite. Every name is a member of
// the set usersKey(), which ListUsers reads. Those are three Cluster
// slots, so a user change touches them in an order that leaves every
// interruption harmless: see CreateUser and DeleteUser.
const (
	userFieldID       = "i"
	userFieldPassword = "p"
	userFieldDisabled = "d" // "1" or "0"
	userFieldClaims   = "c" // JSON object; absent when there are none
	userFieldCreated  = "t" // Unix ms
)

// createUserScript sets the fields ARGV on the hash KEYS[1] unless it
// exists; it replies 1 if it created it.
var createUserScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`)

// updateUserScript sets field ARGV[1] to ARGV[2] in the hash KEYS[1] if it
// exists; it replies 1 if it did.
var updateUserScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// nameMember is the member of userIDKey(id) that holds the user's name: a
// 0xFF byte and the name. Its score, +inf, is what marks it: no family
// entry has that score, and ZADD GT never lowers it.
func nameMember(name string) string { return "\xff" + name }

// The scripts on userIDKey use only the commands that docs/redis.md lists
// for authserver's ACL user: a GET that fails with WRONGTYPE is how they
// tell the sorted set from the previous layout's string.

// claimIDScript claims the id whose key is KEYS[1] for the name member
// ARGV[1]: it replies 0 if the key holds a name already (a string is the
// name in the previous layout), and otherwise adds the name and replies 1.
// Family entries already there (the leftovers of a deleted user of that
// id, which expire with their latest deadline) are written anew, without
// the expiry.
var claimIDScript = redis.NewScript(`
local old = redis.pcall('GET', KEYS[1])
if type(old) == 'string' then return 0 end
local entries = {}
if type(old) == 'table' and old.err then
	if #redis.call('ZRANGEBYSCORE', KEYS[1], '+inf', '+inf', 'LIMIT', 0, 1) > 0 then return 0 end
	entries = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf', 'WITHSCORES')
	redis.call('DEL', KEYS[1])
end
for i = 1, #entries, 2 do redis.call('ZADD', KEYS[1], entries[i + 1], entries[i]) end
redis.call('ZADD', KEYS[1], '+inf', ARGV[1])
return 1
`)

// releaseIDScript releases the id whose key is KEYS[1]: it removes the
// name, and leaves the family entries, which RevokeUserFamilies reads
// after DeleteUser, with the key expiring at their latest deadline (Unix
// seconds), as the index of a user did when it was a key of its own. A
// string (the previous layout) is deleted.
var releaseIDScript = redis.NewScript(`
local old = redis.pcall('GET', KEYS[1])
if type(old) == 'string' then return redis.call('DEL', KEYS[1]) end
if not old then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '+inf', '+inf')
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf', 'WITHSCORES')
if #entries > 0 then
	redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', tonumber(entries[#entries]) * 1000))
end
return 1
`)

// deleteUserScript deletes the hash KEYS[1] and replies its id, or false
// if there was none.
var deleteUserScript = redis.NewScript(`
local id = redis.call('HGET', KEYS[1], 'i')
if not id then return false end
redis.call('DEL', KEYS[1])
return id
`)

// CreateUser adds u; store.ErrAlreadyExists if its name or id is taken.
// Two round trips: it claims the id and lists the name (pipelined), then
// creates the user hash if the name is free, releasing the id if not. An
// interruption leaves at most a claimed id of no user, which blocks only
// that random id, or a listed name of no user, which ListUsers skips.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if u.Name == "" || u.ID == "" {
		return errors.New("create user: empty name or id")
	}
	fields := []any{
		userFieldID, u.ID, userFieldPassword, u.PasswordHash,
		userFieldDisabled, boolField(u.Disabled), userFieldCreated, millis(u.Created),
	}
	if len(u.Claims) > 0 {
		claims, err := json.Marshal(u.Claims)
		if err != nil {
			return fmt.Errorf("create user: claims: %w", err)
		}
		fields = append(fields, userFieldClaims, claims)
	}
	var claim *redis.Cmd
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
		claim = claimIDScript.Eval(ctx, p, []string{s.userIDKey(u.ID)}, nameMember(u.Name))
		p.SAdd(ctx, s.usersKey(), u.Name)
		return nil
	})
	if err != nil {
		return wrap("create user", err)
	}
	if n, _ := claim.Int(); n == 0 {
		return fmt.Errorf("create user %s: id: %w", u.Name, store.ErrAlreadyExists)
	}
	created, err := createUserScript.Run(ctx, s.client, []string{s.userKey(u.Name)}, fields...).Int()
	if err != nil {
		return wrap("create user", err)
	}
	if created == 0 {
		if err := s.client.ZRem(ctx, s.userIDKey(u.ID), nameMember(u.Name)).Err(); err != nil {
			return wrap("create user: release id", err)
		}
		return fmt.Errorf("create user %s: %w", u.Name, store.ErrAlreadyExists)
	}
	return nil
}

// GetUser returns the user named name, or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, name string) (store.User, error) {
	h, err := s.client.HGetAll(ctx, s.userKey(name)).Result()
	if err != nil {
		return store.User{}, wrap("get user", err)
	}
	if len(h) == 0 {
		return store.User{}, fmt.Errorf("get user %s: %w", name, store.ErrNotFound)
	}
	u, err := decodeUser(name, h)
	if err != nil {
		return store.User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// listBatch is how many users ListUsers reads per pipeline.
const listBatch = 500

// ListUsers returns every user ordered by name (byte order): one round
// trip for the names and one per listBatch users.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	names, err := s.client.SMembers(ctx, s.usersKey()).Result()
	if err != nil {
		return nil, wrap("list users", err)
	}
	slices.Sort(names)
	var users []store.User
	for batch := range slices.Chunk(names, listBatch) {
		cmds := make([]*redis.MapStringStringCmd, len(batch))
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, name := range batch {
				cmds[i] = p.HGetAll(ctx, s.userKey(name))
			}
			return nil
		})
		if err != nil {
			return nil, wrap("list users", err)
		}
		for i, c := range cmds {
			if len(c.Val()) == 0 {
				continue // listed, but deleted or never created
			}
			u, err := decodeUser(batch[i], c.Val())
			if err != nil {
				return nil, fmt.Errorf("list users: %w", err)
			}
			users = append(users, u)
		}
	}
	return users, nil
}

// SetPassword replaces the password hash of the named user;
// store.ErrNotFound if there is none.
func (s *Store) SetPassword(ctx context.Context, name, passwordHash string) error {
	return s.updateUser(ctx, "set password", name, userFieldPassword, passwordHash)
}

// SetDisabled disables or enables the named user; store.ErrNotFound if
// there is none.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) error {
	return s.updateUser(ctx, "set user disabled", name, userFieldDisabled, boolField(disabled))
}

func (s *Store) updateUser(ctx context.Context, op, name, field, value string) error {
	n, err := updateUserScript.Run(ctx, s.client, []string{s.userKey(name)}, field, value).Int()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s of %s: %w", op, name, store.ErrNotFound)
	}
	return nil
}

// DeleteUser removes the named user; store.ErrNotFound if there is none.
// Two round trips: the user hash goes first, then (pipelined) its id and
// its name in the list. An interruption leaves a claimed id of no user or
// a listed name of no user, both harmless. The user's family index stays
// (until its latest deadline) for RevokeUserFamilies.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	id, err := deleteUserScript.Run(ctx, s.client, []string{s.userKey(name)}).Text()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("delete user %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return wrap("delete user", err)
	}
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		releaseIDScript.Eval(ctx, p, []string{s.userIDKey(id)})
		p.SRem(ctx, s.usersKey(), name)
		return nil
	})
	return wrap("delete user", err)
}

func decodeUser(name string, h map[string]string) (store.User, error) {
	created, err := strconv.ParseInt(h[userFieldCreated], 10, 64)
	if err != nil {
		return store.User{}, fmt.Errorf("decode user %s: created: %w", name, err)
	}
	u := store.User{
		ID:           h[userFieldID],
		Name:         name,
		PasswordHash: h[userFieldPassword],
		Disabled:     h[userFieldDisabled] == "1",
		Created:      fromMillis(created),
	}
	if c := h[userFieldClaims]; c != "" {
		if err := json.Unmarshal([]byte(c), &u.Claims); err != nil {
			return store.User{}, fmt.Errorf("decode user %s: claims: %w", name, err)
		}
	}
	return u, nil
}

func boolField(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
