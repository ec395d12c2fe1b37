package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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

// redeemScript applies the rules of store.Families.Redeem, in their order,
// to the family record at KEYS[1] (layout in record.go). It replies
// {redeemNotFound}, or {outcome, record}: the record after a rotation, as
// it was otherwise. A rotation stores the new record with the family's new
// expiry; a reuse deletes it. Times are Unix milliseconds from the
// caller, never the Redis clock.
//
// ARGV: now, grace, client id, generation, presented hash, new hash,
// sealed successor, then the requested scopes.
var redeemScript = redis.NewScript(`
local NOT_FOUND, ROTATED, REPLAYED, REUSED, WRONG_CLIENT, SCOPE, UNKNOWN = 0, 1, 2, 3, 4, 5, 6
local rec = redis.call('GET', KEYS[1])
if not rec then return {NOT_FOUND} end
local version, created, lastUsed, idle, expiresAt, gen, pos = struct.unpack('>Bi8i8i8i8I4', rec)
if version ~= 1 then return redis.error_reply('ERR authserver: unknown family record version') end
local client, user, scope, claims, tail = struct.unpack('>I2c0I2c0I2c0I2c0', rec, pos)
local current, previous = struct.unpack('>I2c0I2c0', rec, tail)

local now = tonumber(ARGV[1])
if math.min(lastUsed + idle, expiresAt) <= now then return {NOT_FOUND} end
if ARGV[3] ~= client then return {WRONG_CLIENT, rec} end
local presented = ARGV[5]
if #current > 0 and presented == current then
	local granted = {}
	for s in string.gmatch(scope, '%S+') do granted[s] = true end
	for i = 8, #ARGV do
		if not granted[ARGV[i]] then return {SCOPE, rec} end
	end
	-- Keep version, created, idle TTL, deadline and client to claims;
	-- write last use, generation and the three token fields.
	local newHash, sealed = ARGV[6], ARGV[7]
	local nextRec = string.sub(rec, 1, 9) .. struct.pack('>i8', now) .. string.sub(rec, 18, 33) ..
		struct.pack('>I4', gen + 1) .. string.sub(rec, pos, tail - 1) ..
		struct.pack('>I2', #newHash) .. newHash ..
		struct.pack('>I2', #current) .. current ..
		struct.pack('>I2', #sealed) .. sealed
	redis.call('SET', KEYS[1], nextRec, 'PXAT', string.format('%.0f', math.min(now + idle, expiresAt)))
	return {ROTATED, nextRec}
end
if #previous > 0 and presented == previous then
	if now < lastUsed + tonumber(ARGV[2]) then return {REPLAYED, rec} end
	redis.call('DEL', KEYS[1])
	return {REUSED, rec}
end
if tonumber(ARGV[4]) < gen then
	redis.call('DEL', KEYS[1])
	return {REUSED, rec}
end
return {UNKNOWN, rec}
`)

// CreateFamily stores a new family with its expiry, and adds it to its
// user's family index, in one pipeline: one round trip, two in parallel
// with Cluster, where the index lives on another node. store.ErrAlreadyExists
// if f.ID is taken.
//
// The index is written first (in order on one connection; in parallel with
// Cluster) and is only ever an over-approximation: an entry whose family
// is gone or belongs to another user is skipped where it is read, and
// entries leave the index only when their family's absolute deadline has
// passed or when RevokeUserFamilies deleted their family.
func (s *Store) CreateFamily(ctx context.Context, f store.Family) error {
	if f.ID == "" || len(f.CurrentHash) == 0 {
		return errors.New("create family: empty id or token hash")
	}
	rec, err := encodeFamily(f)
	if err != nil {
		return fmt.Errorf("create family: %w", err)
	}
	index, expiresAt := s.userFamiliesKey(f.UserID), millis(f.ExpiresAt)
	var set *redis.Cmd
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		// Forget the families that are dead whatever their use.
		p.ZRemRangeByScore(ctx, index, "-inf", strconv.FormatInt(millis(f.Created), 10))
		p.Do(ctx, "ZADD", index, "GT", expiresAt, f.ID)
		// The index lives as long as its longest-lived family could.
		p.Do(ctx, "PEXPIREAT", index, expiresAt, "NX")
		p.Do(ctx, "PEXPIREAT", index, expiresAt, "GT")
		set = p.Do(ctx, "SET", s.familyKey(f.ID), rec, "PXAT", millis(f.Expiry()), "NX")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return wrap("create family", err)
	}
	if errors.Is(set.Err(), redis.Nil) {
		return fmt.Errorf("create family %s: %w", f.ID, store.ErrAlreadyExists)
	}
	return wrap("create family", set.Err())
}

// GetFamily returns the family id if it is live at now, or
// store.ErrNotFound.
func (s *Store) GetFamily(ctx context.Context, id string, now time.Time) (store.Family, error) {
	rec, err := s.client.Get(ctx, s.familyKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return store.Family{}, fmt.Errorf("get family %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Family{}, wrap("get family", err)
	}
	f, err := decodeFamily(id, rec)
	if err != nil {
		return store.Family{}, fmt.Errorf("get family: %w", err)
	}
	if !f.Expiry().After(now) {
		return store.Family{}, fmt.Errorf("get family %s: %w", id, store.ErrNotFound)
	}
	return f, nil
}

// Redeem performs one refresh with one script run: one round trip (two
// the first time a server sees the script: EVALSHA, then EVAL). A previous
// token is replayed while r.Now < LastUsed + r.Grace, so a grace of 0
// never replays. A Reused family leaves a stale entry in its user's index,
// which readers skip.
func (s *Store) Redeem(ctx context.Context, r store.Redemption) (store.Redeemed, error) {
	args := make([]any, 0, 7+len(r.Scope))
	args = append(args, millis(r.Now), r.Grace.Milliseconds(), r.ClientID, r.Generation,
		r.PresentedHash, r.NewHash, r.SealedNext)
	for _, sc := range r.Scope {
		args = append(args, sc)
	}
	reply, err := redeemScript.Run(ctx, s.client, []string{s.familyKey(r.FamilyID)}, args...).Slice()
	if err != nil {
		return store.Redeemed{}, wrap("redeem refresh token", err)
	}
	if len(reply) == 0 {
		return store.Redeemed{}, errors.New("redeem refresh token: empty script reply")
	}
	code, _ := reply[0].(int64)
	if code == redeemNotFound {
		return store.Redeemed{}, fmt.Errorf("redeem refresh token of family %s: %w", r.FamilyID, store.ErrNotFound)
	}
	var rec string
	if len(reply) == 2 {
		rec, _ = reply[1].(string)
	}
	if rec == "" {
		return store.Redeemed{}, fmt.Errorf("redeem refresh token: script reply %d has no family record", code)
	}
	f, err := decodeFamily(r.FamilyID, []byte(rec))
	if err != nil {
		return store.Redeemed{}, fmt.Errorf("redeem refresh token: %w", err)
	}
	res := store.Redeemed{Family: f}
	switch code {
	case redeemRotated:
		res.Outcome = store.Rotated
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
	return wrap("revoke family", s.client.Del(ctx, s.familyKey(id)).Err())
}

// ListFamilies returns the families of a user live at now, oldest first
// (by Created, then ID). Two round trips: the index, then every family it
// names, pipelined.
func (s *Store) ListFamilies(ctx context.Context, userID string, now time.Time) ([]store.Family, error) {
	fs, err := s.userFamilies(ctx, userID, strconv.FormatInt(millis(now), 10))
	if err != nil {
		return nil, wrap("list families", err)
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
	fs, err := s.userFamilies(ctx, userID, "")
	if err != nil || len(fs) == 0 {
		return 0, wrap("revoke user families", err)
	}
	dels := make([]*redis.IntCmd, len(fs))
	ids := make([]any, len(fs))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, f := range fs {
			dels[i], ids[i] = p.Del(ctx, s.familyKey(f.ID)), f.ID
		}
		p.ZRem(ctx, s.userFamiliesKey(userID), ids...)
		return nil
	})
	if err != nil {
		return 0, wrap("revoke user families", err)
	}
	n := 0
	for _, d := range dels {
		n += int(d.Val())
	}
	return n, nil
}

// userFamilies returns the stored families of userID whose absolute
// deadline is after after (Unix ms; "" for all), in no order. It skips
// index entries whose family is gone or is another user's.
func (s *Store) userFamilies(ctx context.Context, userID, after string) ([]store.Family, error) {
	by := &redis.ZRangeBy{Min: "-inf", Max: "+inf"}
	if after != "" {
		by.Min = "(" + after
	}
	ids, err := s.client.ZRangeByScore(ctx, s.userFamiliesKey(userID), by).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	gets := make([]*redis.StringCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			gets[i] = p.Get(ctx, s.familyKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var fs []store.Family
	for i, g := range gets {
		rec, err := g.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, err
		}
		f, err := decodeFamily(ids[i], rec)
		if err != nil {
			return nil, err
		}
		if f.UserID == userID {
			fs = append(fs, f)
		}
	}
	return fs, nil
}
