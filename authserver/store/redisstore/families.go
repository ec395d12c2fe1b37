package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
)

// Outcomes of redeemScript, the first element of its reply; the script
// names the same numbers.
const (
	redeemNotFound    = 0
	redeemRotated     = 1
	redeemReplayed    = 2
	redeemReused      = 3
	redeemWrongClient = 4
	redeemScope       = 5
	redeemUnknown     = 6
)

// redeemScript applies the rules of store.Decide, in their order, to the
// family record at KEYS[1] and its grace record at KEYS[2] (layouts in
// record.go); an absent record or a tombstone (an empty one, users.go) is
// no family. It replies {redeemNotFound}, {redeemRotated, record} with
// the record after the rotation, or {outcome, record, grace record} as
// they were (the grace record only if it is the current generation's, or
// ""). A rotation stores the new record with the family's new expiry and
// the grace record, with the requested scope, until LastUsed + grace
// (never past the family's expiry); a reuse deletes both. Times are Unix
// milliseconds from the caller, never the Redis clock.
//
// ARGV: now, grace, client id, generation, presented hash, new hash,
// sealed successor, then the requested scopes.
var redeemScript = redis.NewScript(`
local NOT_FOUND, ROTATED, REPLAYED, REUSED, WRONG_CLIENT, SCOPE, UNKNOWN = 0, 1, 2, 3, 4, 5, 6
local rec = redis.call('GET', KEYS[1])
if not rec or rec == '' then return {NOT_FOUND} end
if string.byte(rec, 1) ~= 3 then return redis.error_reply('ERR authserver: unknown family record version') end

-- Varints as encoding/binary writes them; Lua numbers are exact to 2^53.
local function uvarint(s, pos)
	local v, mul = 0, 1
	for _ = 1, 10 do
		local b = string.byte(s, pos)
		if not b then break end
		v, pos = v + (b % 128) * mul, pos + 1
		if b < 128 then return v, pos end
		mul = mul * 128
	end
	error('authserver: malformed family record')
end
local function varint(s, pos)
	local u
	u, pos = uvarint(s, pos)
	if u % 2 == 1 then return -(u + 1) / 2, pos end
	return u / 2, pos
end
local function putUvarint(v)
	local b = {}
	while v >= 128 do
		b[#b + 1] = v % 128 + 128
		v = math.floor(v / 128)
	end
	b[#b + 1] = v
	return string.char(unpack(b))
end
local function putVarint(v)
	if v < 0 then return putUvarint(-2 * v - 1) end
	return putUvarint(2 * v)
end
local function set(words)
	local t = {}
	for w in string.gmatch(words, '%S+') do t[w] = true end
	return t
end

local created, pos = varint(rec, 2)
local idle, life, n, client, scope, lastUsed, gen, _
idle, pos = varint(rec, pos)
life, pos = varint(rec, pos)
n, pos = uvarint(rec, pos)
client, pos = string.sub(rec, pos, pos + n - 1), pos + n
n, pos = uvarint(rec, pos)
pos = pos + math.floor(n / 4) -- the user id, length<<2 | packed<<1 | versioned
if n % 2 == 1 then _, pos = uvarint(rec, pos) end -- the credential version
n, pos = uvarint(rec, pos)
scope, pos = string.sub(rec, pos, pos + n - 1), pos + n
n, pos = uvarint(rec, pos)
local tail = pos + n -- the part that rotations rewrite
lastUsed, pos = varint(rec, tail)
gen, pos = uvarint(rec, pos)
local current = string.sub(rec, pos)
lastUsed = created + lastUsed
local expiresAt = created + life

local now = tonumber(ARGV[1])
if math.min(lastUsed + idle, expiresAt) <= now then return {NOT_FOUND} end

-- grace returns the grace record, its previous hash and its rotation's
-- scope if the record is the current generation's, or "" and nils.
local function grace()
	local g = redis.call('GET', KEYS[2])
	if not g then return '', nil, nil end
	local ggen, p = uvarint(g, 1)
	if ggen ~= gen then return '', nil, nil end
	local m, previous
	m, p = uvarint(g, p)
	previous, p = string.sub(g, p, p + m - 1), p + m
	m, p = uvarint(g, p)
	return g, previous, string.sub(g, p, p + m - 1)
end

if ARGV[3] ~= client then return {WRONG_CLIENT, rec, (grace())} end
local presented = ARGV[5]
local asked = {}
for i = 8, #ARGV do asked[ARGV[i]] = true end
if #current > 0 and presented == current then
	local granted = set(scope)
	for s in pairs(asked) do
		if not granted[s] then return {SCOPE, rec, (grace())} end
	end
	local nextRec = string.sub(rec, 1, tail - 1) .. putVarint(now - created) .. putUvarint(gen + 1) .. ARGV[6]
	local dies = math.min(now + idle, expiresAt)
	local rotationScope = table.concat(ARGV, ' ', 8)
	redis.call('SET', KEYS[1], nextRec, 'PXAT', string.format('%.0f', dies))
	redis.call('SET', KEYS[2], putUvarint(gen + 1) .. putUvarint(#presented) .. presented ..
		putUvarint(#rotationScope) .. rotationScope .. ARGV[7],
		'PXAT', string.format('%.0f', math.min(now + tonumber(ARGV[2]), dies)))
	return {ROTATED, nextRec}
end
local g, previous, rotationScope = grace()
if previous and #previous > 0 and presented == previous then
	if now < lastUsed + tonumber(ARGV[2]) then
		-- The replay must ask for the rotation's scope, as a set.
		local rotated = set(rotationScope)
		for s in pairs(asked) do
			if not rotated[s] then return {SCOPE, rec, g} end
		end
		for s in pairs(rotated) do
			if not asked[s] then return {SCOPE, rec, g} end
		end
		return {REPLAYED, rec, g}
	end
	redis.call('DEL', KEYS[1], KEYS[2])
	return {REUSED, rec, g}
end
if tonumber(ARGV[4]) < gen then
	redis.call('DEL', KEYS[1], KEYS[2])
	return {REUSED, rec, g}
end
return {UNKNOWN, rec, g}
`)

// createFamilyWindow bounds the time from CreateFamily's index step to
// its SET: past it, CreateFamily gives up (store.ErrUnavailable) rather
// than risk storing the family after a change's tombstone (tombstoneTTL,
// users.go) has expired. Both steps take a round trip.
const createFamilyWindow = 10 * time.Second

// createEntryScript adds family ARGV[2] with score ARGV[1] to the index
// KEYS[1], after forgetting the entries scored at most ARGV[3] (surely
// dead), unless the id's credential version KEYS[2] (users.go) is newer
// than the family's, ARGV[4], or marks the user disabled: then it changes
// nothing and replies 0.
var createEntryScript = redis.NewScript(`
local v, d = string.match(redis.call('GET', KEYS[2]) or '0', '^(%d+)(d?)$')
if d == 'd' or tonumber(v) > tonumber(ARGV[4]) then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
return 1
`)

// CreateFamily stores a new family with its expiry, after adding it to its
// user's family index, and returns store.ErrAlreadyExists if f.ID is
// taken, store.ErrStaleCredentials if the user's credentials changed since
// the login that made f read them. Two round trips, in order: the index
// step checks the credential version of the user's id in the id's slot
// and adds the entry with f's version; then the family is SET NX, which
// fails on a tombstone that a change left because it found the entry but
// not yet the family (users.go, changeUser; docs/redis.md). A new family
// has no previous token: f.PreviousHash and f.SealedNext are not stored.
//
// The index is the user's id key, userIDKey (users.go), which has no
// expiry: every CreateFamily prunes the entries whose absolute deadline
// has passed, so that it holds at most the user's families that could
// still live. It is only ever an over-approximation: an entry whose
// family is gone or belongs to another user is skipped where it is read,
// and entries leave the index only when their family's absolute deadline
// has passed or when a user change or RevokeUserFamilies deleted their
// family.
func (s *Store) CreateFamily(ctx context.Context, f store.Family) error {
	if f.ID == "" || len(f.CurrentHash) == 0 {
		return errors.New("create family: empty id or token hash")
	}
	rec, err := encodeFamily(f)
	if err != nil {
		return fmt.Errorf("create family: %w", err)
	}
	start := time.Now()
	if err := s.addIndexEntry(ctx, f); err != nil {
		return err
	}
	// The window is measured on the monotonic clock: it bounds real time
	// in flight, not a time of the token's.
	if d := time.Since(start); d > createFamilyWindow {
		return fmt.Errorf("create family: %w: the index step took %s", store.ErrUnavailable, d)
	}
	return s.storeFamily(ctx, f, rec)
}

// addIndexEntry is CreateFamily's first step: createEntryScript.
func (s *Store) addIndexEntry(ctx context.Context, f store.Family) error {
	keys := []string{s.userIDKey(f.UserID), s.userVersionKey(f.UserID)}
	return s.replicated(ctx, "create family", keys[0], func(c writer) error {
		added, err := createEntryScript.Run(ctx, c, keys, deadlineScore(f.ExpiresAt),
			indexEntry(f.ID, f.CredentialVersion), deadScore(f.Created), f.CredentialVersion).Int()
		if err != nil {
			return wrap("create family", err)
		}
		if added == 0 {
			return fmt.Errorf("create family of user %s: %w", f.UserID, store.ErrStaleCredentials)
		}
		return nil
	})
}

// storeFamily is CreateFamily's second step: it stores the family record
// rec of f unless its key holds a family or a tombstone.
func (s *Store) storeFamily(ctx context.Context, f store.Family, rec []byte) error {
	key, _ := s.familyKeys(f.ID)
	return s.replicated(ctx, "create family", key, func(c writer) error {
		prev, err := c.Do(ctx, "SET", key, rec, "PXAT", millis(f.Expiry()), "NX", "GET").Text()
		switch {
		case errors.Is(err, redis.Nil):
			return nil
		case err != nil:
			return wrap("create family", err)
		case prev == "":
			return fmt.Errorf("create family of user %s: revoked by a change in flight: %w", f.UserID, store.ErrStaleCredentials)
		}
		return fmt.Errorf("create family %s: %w", f.ID, store.ErrAlreadyExists)
	})
}

// GetFamily returns the family id if it is live at now, or
// store.ErrNotFound (a tombstone is no family). Its PreviousHash and SealedNext are set while its
// grace record lives: until LastUsed plus the grace of the rotation that
// wrote them, by the Redis clock.
func (s *Store) GetFamily(ctx context.Context, id string, now time.Time) (store.Family, error) {
	var g familyGet
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		g = s.queueGetFamily(ctx, p, id)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return store.Family{}, wrap("get family", err)
	}
	f, ok, err := g.result("get family", id)
	if err != nil {
		return store.Family{}, err
	}
	if !ok || !f.Expiry().After(now) {
		return store.Family{}, fmt.Errorf("get family %s: %w", id, store.ErrNotFound)
	}
	return f, nil
}

// familyGet is the reading of one family's two records in a pipeline.
type familyGet struct{ rec, grace *redis.StringCmd }

// queueGetFamily queues the reading of family id on p: two GETs of one
// slot, so one round trip even with Cluster. (MGET would answer a key of
// another type with nil rather than an error.)
func (s *Store) queueGetFamily(ctx context.Context, p redis.Pipeliner, id string) familyGet {
	key, grace := s.familyKeys(id)
	return familyGet{rec: p.Get(ctx, key), grace: p.Get(ctx, grace)}
}

// result returns the family that g read, and false if there was none (or
// a tombstone). Its errors start with op; only Redis' are
// store.ErrUnavailable.
func (g familyGet) result(op, id string) (store.Family, bool, error) {
	rec, err := g.rec.Bytes()
	if errors.Is(err, redis.Nil) || err == nil && len(rec) == 0 {
		return store.Family{}, false, nil
	}
	if err != nil {
		return store.Family{}, false, wrap(op, err)
	}
	grace, err := g.grace.Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		return store.Family{}, false, wrap(op, err)
	}
	f, err := decodeFamily(id, rec, grace)
	if err != nil {
		return store.Family{}, false, fmt.Errorf("%s: %w", op, err)
	}
	return f, true, nil
}

// Redeem performs one refresh with one script run: one round trip (two
// the first time a server sees the script: EVALSHA, then EVAL). A previous
// token is replayed while r.Now < LastUsed + r.Grace, so a grace of 0
// never replays, and while the grace record that the rotation wrote
// lives: until LastUsed plus the rotation's grace, by the Redis clock.
// Past it, the previous token is still reused, by its generation. A Reused
// family leaves a stale entry in its user's index, which readers skip.
// Once the grace is over, the reaper frees the grace record (reaper.go).
func (s *Store) Redeem(ctx context.Context, r store.Redemption) (store.Redeemed, error) {
	args := make([]any, 0, 7+len(r.Scope))
	args = append(args, millis(r.Now), r.Grace.Milliseconds(), r.ClientID, r.Generation,
		r.PresentedHash, r.NewHash, r.SealedNext)
	for _, sc := range r.Scope {
		args = append(args, sc)
	}
	key, grace := s.familyKeys(r.FamilyID)
	var reply []any
	err := s.replicated(ctx, "redeem refresh token", key, func(c writer) error {
		var err error
		if reply, err = redeemScript.Run(ctx, c, []string{key, grace}, args...).Slice(); err != nil {
			return wrap("redeem refresh token", err)
		}
		if len(reply) > 0 && reply[0] == int64(redeemReplayed) {
			// The rotation replayed may have been answered with a 503
			// for want of replicas: wait for it too.
			return wrap("redeem refresh token", s.barrier(ctx, c, key))
		}
		return nil
	})
	if err != nil {
		return store.Redeemed{}, err
	}
	if len(reply) == 0 {
		return store.Redeemed{}, errors.New("redeem refresh token: empty script reply")
	}
	code, _ := reply[0].(int64)
	if code == redeemNotFound {
		return store.Redeemed{}, fmt.Errorf("redeem refresh token of family %s: %w", r.FamilyID, store.ErrNotFound)
	}
	var rec, graceRec string
	if len(reply) >= 2 {
		rec, _ = reply[1].(string)
	}
	if len(reply) == 3 {
		graceRec, _ = reply[2].(string)
	}
	if rec == "" {
		return store.Redeemed{}, fmt.Errorf("redeem refresh token: script reply %d has no family record", code)
	}
	f, err := decodeFamily(r.FamilyID, []byte(rec), []byte(graceRec))
	if err != nil {
		return store.Redeemed{}, fmt.Errorf("redeem refresh token: %w", err)
	}
	res := store.Redeemed{Family: f}
	switch code {
	case redeemRotated:
		res.Outcome = store.Rotated
		res.Family.PreviousHash = slices.Clone(r.PresentedHash)
		res.Family.SealedNext = slices.Clone(r.SealedNext)
		res.Family.RotationScope = slices.Clone(r.Scope)
		s.reaper.add(grace, r.Grace)
	case redeemReplayed:
		res.Outcome = store.Replayed
	case redeemReused:
		res.Outcome = store.Reused
	case redeemWrongClient:
		res.Outcome, res.Reason = store.Rejected, store.ReasonWrongClient
	case redeemScope:
		res.Outcome, res.Reason = store.Rejected, store.ReasonScope
	case redeemUnknown:
		res.Outcome, res.Reason = store.Rejected, store.ReasonUnknown
	default:
		return store.Redeemed{}, fmt.Errorf("redeem refresh token: unexpected script outcome %d", code)
	}
	return res, nil
}

// RevokeFamily deletes a family; no error if it does not exist. Its entry
// in the user's index stays until it expires; readers skip it.
func (s *Store) RevokeFamily(ctx context.Context, id string) error {
	key, grace := s.familyKeys(id)
	return s.replicated(ctx, "revoke family", key, func(c writer) error {
		return wrap("revoke family", c.Del(ctx, key, grace).Err())
	})
}

// ListFamilies returns the families of a user live at now, oldest first
// (by Created, then ID). Two round trips: the index, then every family it
// names, pipelined.
func (s *Store) ListFamilies(ctx context.Context, userID string, now time.Time) ([]store.Family, error) {
	fs, _, err := s.userFamilies(ctx, "list families", userID, "("+deadScore(now))
	if err != nil {
		return nil, err
	}
	live := fs[:0]
	for _, f := range fs {
		if f.Expiry().After(now) {
			live = append(live, f)
		}
	}
	slices.SortFunc(live, func(a, b store.Family) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return live, nil
}

// RevokeUserFamilies deletes every family of a user and returns how many
// it deleted: three round trips (the index, the families it names, the
// deletions). It removes from the index only the families it read and
// deleted: an entry without a family may belong to a CreateFamily still
// under way, and must stay.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID string) (int, error) {
	fs, members, err := s.userFamilies(ctx, "revoke user families", userID, "-inf")
	if err != nil || len(fs) == 0 {
		return 0, err
	}
	dels := make([]*redis.IntCmd, len(fs))
	rem := make([]any, len(members))
	for i, m := range members {
		rem[i] = m
	}
	keys := make([]string, len(fs)+1)
	for i, f := range fs {
		keys[i], _ = s.familyKeys(f.ID)
	}
	keys[len(fs)] = s.userIDKey(userID)
	err = s.replicatedBatch(ctx, "revoke user families", keys, func(p redis.Pipeliner, i int) {
		if i == len(fs) {
			p.ZRem(ctx, keys[i], rem...)
			return
		}
		key, grace := s.familyKeys(fs[i].ID)
		dels[i] = p.Del(ctx, key, grace)
	})
	if err != nil {
		return 0, wrap("revoke user families", err)
	}
	n := 0
	for _, d := range dels {
		if d.Val() > 0 {
			n++
		}
	}
	return n, nil
}

// userFamilies returns the stored families of userID whose index score is
// above min (a ZRANGEBYSCORE bound), in no order, and their index
// members. It skips the user's name and the index entries whose family is
// gone or is another user's. Its errors start with op.
func (s *Store) userFamilies(ctx context.Context, op, userID, min string) ([]store.Family, []string, error) {
	// "(+inf" leaves out the name.
	entries, err := s.client.ZRangeByScore(ctx, s.userIDKey(userID), &redis.ZRangeBy{Min: min, Max: "(+inf"}).Result()
	if err != nil {
		return nil, nil, wrap(op, err)
	}
	var (
		ids, members []string
		gets         []familyGet
	)
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range entries {
			if id, _, ok := parseIndexMember(m); ok {
				ids, members = append(ids, id), append(members, m)
				gets = append(gets, s.queueGetFamily(ctx, p, id))
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, wrap(op, err)
	}
	var (
		fs   []store.Family
		kept []string
	)
	for i, g := range gets {
		f, ok, err := g.result(op, ids[i])
		if err != nil {
			return nil, nil, err
		}
		if ok && f.UserID == userID {
			fs, kept = append(fs, f), append(kept, members[i])
		}
	}
	return fs, kept, nil
}
