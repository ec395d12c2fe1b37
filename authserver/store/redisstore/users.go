package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
)

// A user is a hash at userKey(name) with these fields. Its id is also the
// sorted set userIDKey(id), which holds the user's name, so that ids stay
// unique, and the user's family index (families.go): the name is the
// member nameMember(name) scored +inf, every family an entry scored by its
// absolute deadline, which is never infinite. The id's credential version
// is also the string userVersionKey(id), in the index's slot, so that
// CreateFamily can check it there (see changeUser). Every name is a member
// of the set usersKey(), which ListUsers reads. Those are three Cluster
// slots, so a user change touches them in an order that leaves every
// interruption harmless: see CreateUser, changeUser and DeleteUser.
const (
	userFieldID       = "i"
	userFieldPassword = "p"
	userFieldDisabled = "d" // "1" or "0"
	userFieldClaims   = "c" // JSON object; absent when there are none
	userFieldCreated  = "t" // Unix ms
	userFieldVersion  = "v" // credential version; absent is 0
)

// createUserScript sets the fields ARGV on the hash KEYS[1] unless it
// exists; it replies 1 if it created it.
var createUserScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`)

// changeUserScript changes the user hash KEYS[1], if it exists, and
// raises its credential version: ARGV[1] "x" deletes it, any other value
// is a field set to ARGV[2]. ARGV[3..7], if given, are the fields i, p,
// d, v and c as a check saw them ("\0" for absent ones; see snapshot):
// if any differs, it changes nothing and replies {}. It replies {id, new
// version, disabled} (disabled 1 after the change, also for a deleted
// user, else 0), or false if there is no such user.
var changeUserScript = redis.NewScript(`
local u = redis.call('HMGET', KEYS[1], 'i', 'v')
if not u[1] then return false end
if #ARGV > 2 then
	local cur = redis.call('HMGET', KEYS[1], 'i', 'p', 'd', 'v', 'c')
	for i = 1, 5 do
		if (cur[i] or '\0') ~= ARGV[i + 2] then return {} end
	end
end
local v = (tonumber(u[2]) or 0) + 1
if ARGV[1] == 'x' then
	redis.call('DEL', KEYS[1])
	return {u[1], v, 1}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], 'v', string.format('%.0f', v))
if redis.call('HGET', KEYS[1], 'd') == '1' then return {u[1], v, 1} end
return {u[1], v, 0}
`)

// upgradeHashScript sets the password field of the hash KEYS[1] to
// ARGV[2] if it is ARGV[1].
var upgradeHashScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'p') == ARGV[1] then redis.call('HSET', KEYS[1], 'p', ARGV[2]) end
return 0
`)

// claimID queues on p the claim of u's id for its name (claimIDScript),
// with u's disabled mark. EVAL, not EVALSHA: a pipeline cannot fall back
// on NOSCRIPT.
func (s *Store) claimID(ctx context.Context, p redis.Pipeliner, u store.User) *redis.Cmd {
	mark := ""
	if u.Disabled {
		mark = "d"
	}
	return claimIDScript.Eval(ctx, p, []string{s.userIDKey(u.ID), s.userVersionKey(u.ID)}, nameMember(u.Name), mark)
}

// nameMember is the member of userIDKey(id) that holds the user's name: a
// 0xFF byte and the name. Its score, +inf, is what marks it: no family
// entry has that score, and ZADD GT never lowers it.
func nameMember(name string) string { return "\xff" + name }

// claimIDScript claims the id whose index is KEYS[1] for the name member
// ARGV[1], and replies the id's credential version (KEYS[2]; 0 if none),
// or -1 if the id is taken. Family entries already there (the leftovers
// of a deleted user of that id, which expire with their latest deadline)
// are written anew, without the expiry, and so is the version, with the
// disabled mark ARGV[2] ("d" or "").
var claimIDScript = redis.NewScript(`
if #redis.call('ZRANGEBYSCORE', KEYS[1], '+inf', '+inf', 'LIMIT', 0, 1) > 0 then return -1 end
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf', 'WITHSCORES')
if #entries > 0 then
	redis.call('DEL', KEYS[1])
	for i = 1, #entries, 2 do redis.call('ZADD', KEYS[1], entries[i + 1], entries[i]) end
end
redis.call('ZADD', KEYS[1], '+inf', ARGV[1])
local v = string.match(redis.call('GET', KEYS[2]) or '0', '^%d+')
if v ~= '0' or ARGV[2] ~= '' then redis.call('SET', KEYS[2], v .. ARGV[2]) end
return tonumber(v)
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
	fields, err := userFields(u)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	var claim *redis.Cmd
	keys := []string{s.userIDKey(u.ID), s.usersKey(), s.userNamesKey()}
	err = s.replicatedBatch(ctx, "create user", keys, func(p redis.Pipeliner, i int) {
		switch i {
		case 0:
			claim = s.claimID(ctx, p, u)
		case 1:
			p.SAdd(ctx, s.usersKey(), u.Name)
		case 2:
			p.ZAdd(ctx, s.userNamesKey(), redis.Z{Member: u.Name})
		}
	})
	if err != nil {
		return wrap("create user", err)
	}
	version, _ := claim.Int64()
	if version < 0 {
		return fmt.Errorf("create user %s: id: %w", u.Name, store.ErrAlreadyExists)
	}
	if version > 0 {
		// A deleted user had this id: start above its logins.
		fields = append(fields, userFieldVersion, version)
	}
	var created int
	err = s.replicated(ctx, "create user", s.userKey(u.Name), func(c writer) error {
		var err error
		created, err = createUserScript.Run(ctx, c, []string{s.userKey(u.Name)}, fields...).Int()
		return wrap("create user", err)
	})
	if err != nil {
		return err
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

// SetPassword replaces the password hash of the named user, raises its
// credential version and revokes its families (changeUser);
// store.ErrNotFound if there is none.
func (s *Store) SetPassword(ctx context.Context, name, passwordHash string) (int, error) {
	return s.SetPasswordIf(ctx, name, passwordHash, nil)
}

// SetPasswordIf is SetPassword if check passes the user (changeUser).
func (s *Store) SetPasswordIf(ctx context.Context, name, passwordHash string, check func(store.User) error) (int, error) {
	return s.changeUser(ctx, "set password", name, userFieldPassword, passwordHash, check)
}

// UpgradePasswordHash replaces the named user's password hash with newHash
// if it is still oldHash; otherwise it does nothing. One round trip.
func (s *Store) UpgradePasswordHash(ctx context.Context, name, oldHash, newHash string) error {
	err := upgradeHashScript.Run(ctx, s.client, []string{s.userKey(name)}, oldHash, newHash).Err()
	return wrap("upgrade password hash", err)
}

// SetDisabled disables or enables the named user, raises its credential
// version and revokes its families (changeUser); store.ErrNotFound if
// there is none.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) (int, error) {
	return s.SetDisabledIf(ctx, name, disabled, nil)
}

// SetDisabledIf is SetDisabled if check passes the user (changeUser).
func (s *Store) SetDisabledIf(ctx context.Context, name string, disabled bool, check func(store.User) error) (int, error) {
	return s.changeUser(ctx, "set user disabled", name, userFieldDisabled, boolField(disabled), check)
}

// DeleteUser removes the named user and revokes its families
// (changeUser); store.ErrNotFound if there is none. The name leaves the
// list of users in the same pipeline as the id is released; an
// interruption leaves a listed name of no user, which ListUsers skips.
func (s *Store) DeleteUser(ctx context.Context, name string) (int, error) {
	return s.DeleteUserIf(ctx, name, nil)
}

// DeleteUserIf is DeleteUser if check passes the user (changeUser).
func (s *Store) DeleteUserIf(ctx context.Context, name string, check func(store.User) error) (int, error) {
	return s.changeUser(ctx, "delete user", name, deleteUser, "", check)
}

// deleteUser, as the field of changeUser, deletes the user.
const deleteUser = "x"

// deletedVersionTTL is how long the credential version of a deleted user's
// id outlives it: far longer than any login can take from reading the
// user to creating its family, and short enough that deleted users do not
// pile up.
const deletedVersionTTL = 7 * 24 * time.Hour

// tombstoneTTL is how long revokeStaleScript's tombstone keeps a
// CreateFamily still in flight from storing its family; createFamilyWindow
// (families.go), which bounds that flight, is far shorter.
const tombstoneTTL = 10 * time.Minute

// The credential version of an id, userVersionKey, holds the version
// and, if the user is disabled (or deleted), a "d": "7", "8d". Absent is
// "0".

// raiseVersionScript raises the credential version of an id, KEYS[2], to
// ARGV[1], with the disabled mark ARGV[2] ("d" or ""), unless it is
// newer already (the change that made it newer wrote its own mark).
// ARGV[3] "1" means that the user is being deleted: its version then
// lives only ARGV[4] ms and its name leaves the index KEYS[1]. It replies
// every family entry of the index. From then on, CreateFamily refuses a
// family of an older version, and any family of a disabled user.
var raiseVersionScript = redis.NewScript(`
local old = tonumber(string.match(redis.call('GET', KEYS[2]) or '0', '^%d+') or '0')
local n = tonumber(ARGV[1])
if n > old then
	local v = string.format('%.0f', n) .. ARGV[2]
	if ARGV[3] == '1' then
		redis.call('SET', KEYS[2], v, 'PX', ARGV[4])
	else
		redis.call('SET', KEYS[2], v)
	end
end
if ARGV[3] == '1' then
	redis.call('ZREMRANGEBYSCORE', KEYS[1], '+inf', '+inf')
	local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf', 'WITHSCORES')
	if #entries > 0 then
		redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', tonumber(entries[#entries]) * 1000))
	end
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(+inf')
`)

// revokeStaleScript revokes a family whose credentials are stale: it
// deletes the family record KEYS[1] and the grace record KEYS[2] and
// replies 1 if the family exists, and otherwise writes an empty record, a
// tombstone that lives ARGV[1] ms, so that a CreateFamily still in flight
// fails its SET NX, and replies 0.
var revokeStaleScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if rec and rec ~= '' then
	redis.call('DEL', KEYS[1], KEYS[2])
	return 1
end
if not rec then redis.call('SET', KEYS[1], '', 'PX', ARGV[1]) end
return 0
`)

// changeUser changes the named user as changeUserScript does (field,
// value), then revokes every family of the user that a login before the
// change made, and returns how many it revoked: store.ErrNotFound if
// there is no such user.
//
// The user hash, the id's index and version, and each family are in
// different Cluster slots, so no one script sees them all; the steps are
// ordered so that no family older than the change exists once it
// returns, whatever runs in between (docs/redis.md):
//  1. the user hash changes and its version rises to N: a login that
//     reads it from now on records N in its family;
//  2. the id's version rises to N, and the index is read: a CreateFamily
//     whose index step (which checks that version) comes later fails;
//     every earlier one left an entry, with its version, in what is read;
//  3. each entry of a version below N is revoked on its family's slot:
//     the family is deleted, or a tombstone is left where it would be
//     stored, so that the CreateFamily that wrote the entry, if still in
//     flight, fails its SET NX; then the entries leave the index.
//
// Families of version N (logins with the new credentials) are never
// touched. Four round trips. An interruption after step 1 leaves the
// change made but maybe not every family revoked, and returns an error:
// running the change again finishes the revocation.
//
// A check guards step 1 (changeUserHash); when it refuses the user,
// nothing changes.
func (s *Store) changeUser(ctx context.Context, op, name, field, value string, check func(store.User) error) (int, error) {
	reply, err := s.changeUserHash(ctx, op, name, field, value, check)
	if err != nil {
		return 0, err
	}
	if len(reply) != 3 {
		return 0, fmt.Errorf("%s of %s: unexpected script reply %v", op, name, reply)
	}
	id, _ := reply[0].(string)
	version, _ := reply[1].(int64)
	disabled, _ := reply[2].(int64)
	if id == "" || version <= 0 {
		return 0, fmt.Errorf("%s of %s: unexpected script reply %v", op, name, reply)
	}
	mark, release := "", "0"
	if disabled == 1 {
		mark = "d"
	}
	if field == deleteUser {
		release = "1"
	}
	var raise *redis.Cmd
	keys := []string{s.userIDKey(id)}
	if field == deleteUser {
		keys = append(keys, s.usersKey(), s.userNamesKey())
	}
	err = s.replicatedBatch(ctx, op, keys, func(p redis.Pipeliner, i int) {
		switch i {
		case 1:
			p.SRem(ctx, s.usersKey(), name)
			return
		case 2:
			p.ZRem(ctx, s.userNamesKey(), name)
			return
		}
		raise = raiseVersionScript.Eval(ctx, p, []string{s.userIDKey(id), s.userVersionKey(id)},
			version, mark, release, deletedVersionTTL.Milliseconds())
	})
	if err != nil {
		return 0, wrap(op, err)
	}
	entries, err := raise.StringSlice()
	if err != nil {
		return 0, wrap(op, err)
	}
	var stale []string
	for _, m := range entries {
		if _, v, ok := parseIndexMember(m); ok && v < uint64(version) {
			stale = append(stale, m)
		}
	}
	n, err := s.revokeStale(ctx, id, stale)
	if err != nil {
		return 0, wrap(op+": revoke sessions", err)
	}
	return n, nil
}

// changeUserHash runs changeUserScript on the named user and returns its
// reply. With a check, it reads the user, checks it, and passes the
// fields it read to the script, which changes the user only if they are
// unchanged; if they changed, it starts over, and the check sees the
// change.
func (s *Store) changeUserHash(ctx context.Context, op, name, field, value string, check func(store.User) error) ([]any, error) {
	key := s.userKey(name)
	notFound := fmt.Errorf("%s of %s: %w", op, name, store.ErrNotFound)
	run := func(args ...any) ([]any, error) {
		var reply []any
		err := s.replicated(ctx, op, key, func(c writer) error {
			var err error
			reply, err = changeUserScript.Run(ctx, c, []string{key}, args...).Slice()
			if errors.Is(err, redis.Nil) {
				return notFound
			}
			return wrap(op, err)
		})
		return reply, err
	}
	if check == nil {
		return run(field, value)
	}
	for range updateAttempts {
		h, err := s.client.HGetAll(ctx, key).Result()
		if err != nil {
			return nil, wrap(op, err)
		}
		if len(h) == 0 {
			return nil, notFound
		}
		u, err := decodeUser(name, h)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if err := check(u); err != nil {
			return nil, fmt.Errorf("%s of %s: %w", op, name, err)
		}
		reply, err := run(append([]any{field, value}, snapshot(h)...)...)
		if err != nil || len(reply) > 0 {
			return reply, err
		}
	}
	return nil, fmt.Errorf("%s of %s: too many concurrent writers: %w", op, name, store.ErrUnavailable)
}

// snapshot returns the fields i, p, d, v and c of the user hash h, as
// changeUserScript and swapClaimsScript compare them: "\x00" for an
// absent one, which no field holds.
func snapshot(h map[string]string) []any {
	fields := []string{userFieldID, userFieldPassword, userFieldDisabled, userFieldVersion, userFieldClaims}
	out := make([]any, len(fields))
	for i, f := range fields {
		v, ok := h[f]
		if !ok {
			v = "\x00"
		}
		out[i] = v
	}
	return out
}

// revokeStale runs revokeStaleScript on the family of every index entry
// of members (pipelined: one round trip, one per node with Cluster), then
// removes them from the index of id, and returns how many families it
// deleted.
func (s *Store) revokeStale(ctx context.Context, id string, members []string) (int, error) {
	if len(members) == 0 {
		return 0, nil
	}
	cmds := make([]*redis.Cmd, len(members))
	keys := make([]string, len(members))
	for i, m := range members {
		fid, _, _ := parseIndexMember(m)
		keys[i], _ = s.familyKeys(fid)
	}
	err := s.replicatedBatch(ctx, "revoke stale families", keys, func(p redis.Pipeliner, i int) {
		fid, _, _ := parseIndexMember(members[i])
		key, grace := s.familyKeys(fid)
		cmds[i] = revokeStaleScript.Eval(ctx, p, []string{key, grace}, tombstoneTTL.Milliseconds())
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cmds {
		if v, _ := c.Int(); v == 1 {
			n++
		}
	}
	rem := make([]any, len(members))
	for i, m := range members {
		rem[i] = m
	}
	return n, s.replicated(ctx, "revoke stale families", s.userIDKey(id), func(c writer) error {
		return c.ZRem(ctx, s.userIDKey(id), rem...).Err()
	})
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
	if v := h[userFieldVersion]; v != "" {
		if u.CredentialVersion, err = strconv.ParseUint(v, 10, 64); err != nil {
			return store.User{}, fmt.Errorf("decode user %s: version: %w", name, err)
		}
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
