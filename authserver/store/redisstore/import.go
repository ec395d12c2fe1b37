package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
)

var _ store.Importer = (*Store)(nil)

// importUpdateScript updates the user hash KEYS[1] if its password field
// still holds ARGV[1] (what the import read and planned on): ARGV[2] is the
// new password hash, ARGV[3] disabled, ARGV[4] the claims ("" for none).
// It replies 0, changing nothing, if the user is gone or its password
// changed since (a login re-hashed it), so that the import never undoes a
// change it did not see.
var importUpdateScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'p') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'p', ARGV[2], 'd', ARGV[3])
if ARGV[4] == '' then
	redis.call('HDEL', KEYS[1], 'c')
else
	redis.call('HSET', KEYS[1], 'c', ARGV[4])
end
return 1
`)

// ImportUsers imports users in four pipelined round trips per call: it
// reads every user, plans each with store.PlanImport, then claims the ids
// of the new users and lists their names, then creates the new users, then
// updates the changed ones, each with a script that checks nothing
// changed since the read. A user that lost such a race is Skipped. With
// store.min_replicas, each write batch waits for that many replicas, as
// every other write does. A dry run reads and plans only.
func (s *Store) ImportUsers(ctx context.Context, users []store.ImportedUser, opts store.ImportOptions) ([]store.ImportResult, error) {
	reads := make([]*redis.MapStringStringCmd, len(users))
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, in := range users {
			reads[i] = p.HGetAll(ctx, s.userKey(in.User.Name))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("import users: read", err)
	}
	results := make([]store.ImportResult, len(users))
	planned := make([]store.User, len(users))
	for i, in := range users {
		if in.User.Name == "" || in.User.ID == "" {
			return nil, fmt.Errorf("import users: empty name or id")
		}
		var existing *store.User
		if len(reads[i].Val()) > 0 {
			u, err := decodeUser(in.User.Name, reads[i].Val())
			if err != nil {
				return nil, fmt.Errorf("import users: %w", err)
			}
			existing = &u
		}
		planned[i], results[i] = store.PlanImport(existing, in, opts.Overwrite)
	}
	if opts.DryRun {
		return results, nil
	}
	if err := s.importCreate(ctx, planned, results); err != nil {
		return nil, err
	}
	if err := s.importUpdate(ctx, users, reads, planned, results); err != nil {
		return nil, err
	}
	return results, nil
}

// importCreate creates the users planned as ImportCreated, as CreateUser
// does (the id claimed and the name listed first), in two batches, each
// acknowledged by store.min_replicas replicas when set (replicatedBatch).
//
// The batches send each script's text (EVAL), as CreateUser does: a
// pipeline cannot fall back on NOSCRIPT, and SCRIPT LOAD is not among the
// commands docs/redis.md grants authserver's ACL user.
func (s *Store) importCreate(ctx context.Context, planned []store.User, results []store.ImportResult) error {
	var created []int // indexes of planned
	for i := range planned {
		if results[i].Action == store.ImportCreated {
			created = append(created, i)
		}
	}
	if len(created) == 0 {
		return nil
	}
	// Claim the ids (one key each) and list the names (two keys for all).
	keys := []string{s.usersKey(), s.userNamesKey()}
	for _, i := range created {
		keys = append(keys, s.userIDKey(planned[i].ID))
	}
	claims := make(map[int]*redis.Cmd, len(created))
	err := s.replicatedBatch(ctx, "import users: claim ids", keys, func(p redis.Pipeliner, k int) {
		switch k {
		case 0:
			for _, i := range created {
				p.SAdd(ctx, s.usersKey(), planned[i].Name)
			}
		case 1:
			for _, i := range created {
				p.ZAdd(ctx, s.userNamesKey(), redis.Z{Member: planned[i].Name})
			}
		default:
			i := created[k-2]
			claims[i] = s.claimID(ctx, p, planned[i])
		}
	})
	if err != nil {
		return wrap("import users: claim ids", err)
	}
	var (
		create []int
		fields = make(map[int][]any, len(created))
	)
	keys = keys[:0]
	for _, i := range created {
		version, _ := claims[i].Int64()
		if version < 0 {
			results[i].Action = store.ImportSkipped
			continue
		}
		f, err := userFields(planned[i])
		if err != nil {
			return fmt.Errorf("import users: %w", err)
		}
		if version > 0 {
			// A deleted user had this id: start above its logins.
			f = append(f, userFieldVersion, version)
		}
		fields[i] = f
		create = append(create, i)
		keys = append(keys, s.userKey(planned[i].Name))
	}
	creates := make(map[int]*redis.Cmd, len(create))
	err = s.replicatedBatch(ctx, "import users: create", keys, func(p redis.Pipeliner, k int) {
		i := create[k]
		creates[i] = createUserScript.Eval(ctx, p, []string{keys[k]}, fields[i]...)
	})
	if err != nil {
		return wrap("import users: create", err)
	}
	for i, c := range creates {
		if n, _ := c.Int(); n == 0 {
			// Created by someone else since the read: leave it alone.
			results[i].Action = store.ImportSkipped
			if err := s.client.ZRem(ctx, s.userIDKey(planned[i].ID), nameMember(planned[i].Name)).Err(); err != nil {
				return wrap("import users: release id", err)
			}
		}
	}
	return nil
}

// importUpdate writes the users planned as ImportUpdated, each only if its
// password hash is still the one read, in one batch acknowledged by
// store.min_replicas replicas when set.
func (s *Store) importUpdate(ctx context.Context, users []store.ImportedUser, reads []*redis.MapStringStringCmd, planned []store.User, results []store.ImportResult) error {
	var (
		update []int
		keys   []string
		claims = map[int]string{}
	)
	for i, u := range planned {
		if results[i].Action != store.ImportUpdated {
			continue
		}
		c, err := claimsField(u.Claims)
		if err != nil {
			return fmt.Errorf("import users: %w", err)
		}
		claims[i] = c
		update = append(update, i)
		keys = append(keys, s.userKey(users[i].User.Name))
	}
	updates := make(map[int]*redis.Cmd, len(update))
	err := s.replicatedBatch(ctx, "import users: update", keys, func(p redis.Pipeliner, k int) {
		i := update[k]
		old := reads[i].Val()[userFieldPassword]
		updates[i] = importUpdateScript.Eval(ctx, p, []string{keys[k]}, old, planned[i].PasswordHash, boolField(planned[i].Disabled), claims[i])
	})
	if err != nil {
		return wrap("import users: update", err)
	}
	for i, c := range updates {
		if n, _ := c.Int(); n == 0 {
			results[i] = store.ImportResult{Action: store.ImportSkipped, UserID: results[i].UserID}
		}
	}
	return nil
}

// userFields are the fields of u's hash, as CreateUser writes them.
func userFields(u store.User) ([]any, error) {
	fields := []any{
		userFieldID, u.ID, userFieldPassword, u.PasswordHash,
		userFieldDisabled, boolField(u.Disabled), userFieldCreated, millis(u.Created),
	}
	claims, err := claimsField(u.Claims)
	if err != nil {
		return nil, err
	}
	if claims != "" {
		fields = append(fields, userFieldClaims, claims)
	}
	return fields, nil
}

// claimsField is the stored form of a user's claims: a JSON object, or ""
// for none (the field is then absent, or empty).
func claimsField(claims map[string]string) (string, error) {
	if len(claims) == 0 {
		return "", nil
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("claims: %w", err)
	}
	return string(b), nil
}
