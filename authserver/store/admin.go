package store

import (
	"context"
	"time"
)

// UserPages serves the admin API's user reads and its conditional user
// writes: lookups by id, pages of users ordered by name, and changes
// guarded by a precondition (an If-Match).
//
// A precondition is a check, called with the user as stored, that
// refuses the change by returning an error. Check and change are one
// atomic step: no other change to the user comes between them, so a
// check of a version (an ETag) makes a lost update impossible. The
// stores need no version of their own for that: a check that the Redis
// backend cannot run inside its script runs before it, and the script
// makes the change only if every field the check saw is unchanged (else
// the read, check and script start over).
type UserPages interface {
	// GetUserByID returns the user whose id is id, or ErrNotFound.
	GetUserByID(ctx context.Context, id string) (User, error)
	// ListUsersAfter returns at most limit users whose names sort after
	// after (byte order; "" starts at the first), ordered by name. Paging
	// with the last name returned as the next after is stable under
	// concurrent changes: a user present throughout is listed exactly
	// once. The cost is of one page, whatever the number of users.
	ListUsersAfter(ctx context.Context, after string, limit int) ([]User, error)
	// UpdateClaims replaces the claims of the named user with claims if
	// check, called with the user as stored, returns nil, and returns the
	// user as it is then. Check and write are one atomic step: no other
	// change to the user comes between them, so a check of a version
	// (an ETag) makes a lost update impossible. An error of check is
	// returned, wrapped; ErrNotFound if there is no such user.
	UpdateClaims(ctx context.Context, name string, claims map[string]string, check func(User) error) (User, error)
	// SetPasswordIf is SetPassword if check, called with the user as
	// stored in the same atomic step as the change, returns nil; an error
	// of check is returned, wrapped, and nothing changes. A nil check
	// passes every user.
	SetPasswordIf(ctx context.Context, name, passwordHash string, check func(User) error) (revoked int, err error)
	// SetDisabledIf is SetDisabled guarded by check, as SetPasswordIf.
	SetDisabledIf(ctx context.Context, name string, disabled bool, check func(User) error) (revoked int, err error)
	// DeleteUserIf is DeleteUser guarded by check, as SetPasswordIf.
	DeleteUserIf(ctx context.Context, name string, check func(User) error) (revoked int, err error)
}

// IdempotencyRecord is what the admin API keeps of a request sent with an
// Idempotency-Key: a fingerprint of the request, and once it is answered,
// the answer to replay to its retries.
type IdempotencyRecord struct {
	Key         string // the client's key, scoped by the caller (client id and key)
	Fingerprint string // of the request (method, path, body): a retry must match
	Status      int    // 0 while the first request is under way
	ContentType string
	Location    string
	ETag        string // the answer's ETag header, if any
	Body        []byte
	Expires     time.Time
}

// IdempotencyKeys stores IdempotencyRecords until they expire.
type IdempotencyKeys interface {
	// ReserveIdempotencyKey stores rec (Status 0: under way) unless a
	// record for rec.Key live at now exists, in one atomic step. It
	// returns true if it stored rec, or false and the existing record.
	ReserveIdempotencyKey(ctx context.Context, rec IdempotencyRecord, now time.Time) (existing IdempotencyRecord, reserved bool, err error)
	// CompleteIdempotencyKey replaces the record of rec.Key with rec,
	// the answer to keep.
	CompleteIdempotencyKey(ctx context.Context, rec IdempotencyRecord) error
	// ReleaseIdempotencyKey deletes the record of key (the request failed
	// in a way a retry may fix); no error if there is none.
	ReleaseIdempotencyKey(ctx context.Context, key string) error
}
