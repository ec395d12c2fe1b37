package authserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/oauthkit/authserver/authserver/djangodump"
	"github.com/oauthkit/authserver/authserver/password"
	"github.com/oauthkit/authserver/authserver/store"
)

// DjangoUserIDClaim is the claim that keeps an imported user's Django pk:
// simplejwt's USER_ID_CLAIM, and how a re-import tells its own users from
// users created here.
const DjangoUserIDClaim = "user_id"

// DjangoUser maps one object of `manage.py dumpdata auth.user` (or of a
// custom user model with the same fields) to a user to import, with a new
// random id (kept only if the user is created). The mapping:
//
//	pk          → claim user_id (the digits of an integer pk; a string pk as is)
//	username    → the login name, and claim username
//	password    → the password hash, as Django wrote it (an empty one
//	              imports as unusable: no login until `users passwd`)
//	is_active   → false: the user is imported disabled
//	email, first_name, last_name → claims of the same names, when not empty
//	is_staff    → claim is_staff "true", when true
//	date_joined → the user's creation time
//
// is_superuser, groups, user_permissions and last_login are not imported.
// The claims of username, email, first_name, last_name and is_staff go
// into an access token only with their scope (profile, email, staff; see
// djangoClaimScopes); user_id goes into every token.
// The error says why the object is refused, never quoting its hash.
func DjangoUser(obj djangodump.Object, now time.Time) (store.ImportedUser, error) {
	if !obj.Has("username") || !obj.Has("password") {
		return store.ImportedUser{}, fmt.Errorf("model %s is not a user model (no username and password fields)", obj.Model)
	}
	pk, err := obj.Key()
	if err != nil {
		return store.ImportedUser{}, err
	}
	if pk == "" {
		return store.ImportedUser{}, errors.New("no pk (dump without --natural-primary)")
	}
	name, err := obj.String("username")
	if err != nil {
		return store.ImportedUser{}, err
	}
	if err := checkName(name); err != nil {
		return store.ImportedUser{}, fmt.Errorf("username: %w", err)
	}
	hash, err := obj.String("password")
	if err != nil {
		return store.ImportedUser{}, err
	}
	if hash == "" {
		hash = "!" // Django checks no password against an empty hash either
	}
	if _, err := password.Identify(hash); err != nil {
		return store.ImportedUser{}, fmt.Errorf("password: %w", err)
	}
	active, err := obj.Bool("is_active", true)
	if err != nil {
		return store.ImportedUser{}, err
	}
	claims := map[string]string{DjangoUserIDClaim: pk, "username": name}
	for _, f := range []string{"email", "first_name", "last_name"} {
		v, err := obj.String(f)
		if err != nil {
			return store.ImportedUser{}, err
		}
		if v != "" {
			claims[f] = v
		}
	}
	staff, err := obj.Bool("is_staff", false)
	if err != nil {
		return store.ImportedUser{}, err
	}
	if staff {
		claims["is_staff"] = "true"
	}
	created, err := djangoTime(obj, "date_joined", now)
	if err != nil {
		return store.ImportedUser{}, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return store.ImportedUser{}, err
	}
	return store.ImportedUser{
		User: store.User{
			ID: "u_" + b64url.EncodeToString(id), Name: name, PasswordHash: hash,
			Disabled: !active, Claims: claims, Created: created,
		},
		Key: DjangoUserIDClaim,
	}, nil
}

// djangoTime reads a datetime field as Django serializes it: ISO 8601
// with an offset (USE_TZ = True) or without one (naive, taken as UTC).
func djangoTime(obj djangodump.Object, field string, def time.Time) (time.Time, error) {
	s, err := obj.String(field)
	if err != nil || s == "" {
		return def.UTC().Truncate(time.Second), err
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Second), nil
		}
	}
	return time.Time{}, fmt.Errorf("field %s: %q is not an ISO 8601 time", field, s)
}

// Import creates or updates a batch of users in the store, and revokes
// the sessions of every user whose password hash was replaced or who was
// disabled. It needs a store that implements store.Importer.
func (u *Users) Import(ctx context.Context, batch []store.ImportedUser, opts store.ImportOptions) ([]store.ImportResult, error) {
	imp, ok := u.store.(store.Importer)
	if !ok {
		return nil, fmt.Errorf("import users: the store cannot import")
	}
	res, err := imp.ImportUsers(ctx, batch, opts)
	if err != nil {
		return nil, fmt.Errorf("import users: %w", err)
	}
	if opts.DryRun {
		return res, nil
	}
	for i, r := range res {
		if r.Enabled {
			if _, err := u.store.SetDisabled(ctx, batch[i].User.Name, false); err != nil {
				return nil, fmt.Errorf("import users: enable %s: %w", batch[i].User.Name, err)
			}
		}
		if !r.EndSessions {
			continue
		}
		// Through the store's own change, which raises the credential
		// version and revokes in one step, so that a login in flight with
		// the old password cannot keep a session.
		in := batch[i].User
		var err error
		if in.Disabled {
			_, err = u.store.SetDisabled(ctx, in.Name, true)
		} else {
			_, err = u.store.SetPassword(ctx, in.Name, in.PasswordHash)
		}
		if err != nil {
			return nil, fmt.Errorf("import users: end sessions of %s: %w", in.Name, err)
		}
	}
	return res, nil
}

// ImportBatch is how many users ImportDjango writes per store batch (one
// SQLite transaction, or three Redis pipelines).
const ImportBatch = 1000

// ImportSummary counts what an import did, or would do.
type ImportSummary struct {
	Created, Updated, Unchanged, Skipped, Refused int
}

// ImportDjango imports the users of a `manage.py dumpdata` JSON read from
// in, streaming, ImportBatch users per store batch; the next batch is
// decoded while the store writes one. report gets one line for each
// refused or skipped object, saying why (never with a hash), in order,
// from the calling goroutine. It returns what it did so far, also with an
// error.
func (u *Users) ImportDjango(ctx context.Context, in io.Reader, opts store.ImportOptions, report func(line string)) (ImportSummary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *djangoBatch, 1)
	var readErr error
	go func() {
		defer close(batches)
		readErr = readDjango(ctx, in, u.now(), batches)
	}()
	var sum ImportSummary
	for b := range batches {
		for _, line := range b.refused {
			sum.Refused++
			report(line)
		}
		if len(b.users) == 0 {
			continue
		}
		res, err := u.Import(ctx, b.users, opts)
		if err != nil {
			cancel()
			for range batches {
			}
			return sum, err
		}
		for i, r := range res {
			switch r.Action {
			case store.ImportCreated:
				sum.Created++
			case store.ImportUpdated:
				sum.Updated++
			case store.ImportUnchanged:
				sum.Unchanged++
			case store.ImportSkipped:
				sum.Skipped++
				report(fmt.Sprintf("skipped object %d (pk %s, %s): a user of that name exists here that was not imported from this pk (--overwrite replaces it)",
					b.rows[i], b.users[i].User.Claims[DjangoUserIDClaim], b.users[i].User.Name))
			}
		}
	}
	return sum, readErr
}

// djangoBatch is up to ImportBatch users to import, the index of each in
// the dump, and the reasons for the objects refused among them.
type djangoBatch struct {
	users   []store.ImportedUser
	rows    []int
	refused []string
}

// readDjango decodes the dump into batches until its end, an error, or
// the end of ctx.
func readDjango(ctx context.Context, in io.Reader, now time.Time, out chan<- *djangoBatch) error {
	dump := djangodump.NewReader(in)
	b := &djangoBatch{}
	send := func() bool {
		select {
		case out <- b:
			b = &djangoBatch{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		obj, i, err := dump.Next()
		switch {
		case errors.Is(err, io.EOF):
			send()
			return nil
		case errors.Is(err, djangodump.ErrRow):
			b.refused = append(b.refused, fmt.Sprintf("refused %v", err))
		case err != nil:
			send()
			return err
		default:
			user, err := DjangoUser(obj, now)
			if err != nil {
				pk, _ := obj.Key()
				b.refused = append(b.refused, fmt.Sprintf("refused object %d (pk %s): %v", i, pk, err))
				break
			}
			b.users, b.rows = append(b.users, user), append(b.rows, i)
		}
		if (len(b.users) == ImportBatch || len(b.refused) == ImportBatch) && !send() {
			return ctx.Err()
		}
	}
}
