// Package store defines the storage contract of authserver: users,
// refresh-token families, the serialized signing-key set, lockout counters
// and revoked access-token ids. Backends live in sibling packages
// (embedded, redisstore) and all pass the conformance suite in storetest.
//
// The contract is shaped so that every state change is one atomic step in
// the backend: one SQL transaction, or one Redis command or Lua script. In
// particular Redeem checks, rotates, detects reuse and revokes in a single
// step, so that of any number of concurrent redemptions of one refresh
// token exactly one rotates the family. The user changes that end
// sessions (SetPassword, SetDisabled, DeleteUser) are one store operation
// each, atomic with respect to CreateFamily and Redeem: a backend that
// cannot make them one step (Redis Cluster, where the user, its index and
// its families live in different slots) orders its steps so that no
// family older than the change exists once it returns.
package store

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"
)

// Sentinel errors returned by every backend. Callers test them with
// errors.Is; backends may wrap them with detail.
var (
	// ErrNotFound reports that the user, family or key set does not exist
	// (or has expired).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists reports that a user name or family id is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrStaleCredentials reports that CreateFamily refused a family
	// because its user changed since the login read it: the user's
	// credential version is newer than the family's (a password change, a
	// disable or enable, a delete), or the user is disabled or gone. The
	// password grant answers it as a wrong password.
	ErrStaleCredentials = errors.New("user credentials changed since the login read them")
	// ErrCodeUsed reports that an authorization code was redeemed before.
	// RedeemCode returns it with the code, whose FamilyID names the family
	// the first redemption issued, so that the caller can revoke it
	// (RFC 6749 §10.5).
	ErrCodeUsed = errors.New("authorization code already used")
	// ErrUnavailable reports that the backend cannot be reached. The HTTP
	// layer maps it to 503 temporarily_unavailable.
	ErrUnavailable = errors.New("store unavailable")
)

// Store is everything authserver keeps outside its own memory.
type Store interface {
	Users
	Families
	KeySets
	Lockouts
	RevokedTokens
	UserPages
	IdempotencyKeys
	AuthCodes

	// Ping reports whether the backend is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// User is a resource owner that logs in with the password grant.
type User struct {
	ID           string            // stable, opaque; the sub of its tokens
	Name         string            // login name, unique
	PasswordHash string            // PHC-formatted argon2id hash
	Disabled     bool              // a disabled user cannot log in
	Claims       map[string]string // copied into its access tokens
	Created      time.Time
	// CredentialVersion counts the changes that end the user's sessions:
	// SetPassword, SetDisabled (either way) and DeleteUser raise it. A
	// login records the version it read in its family, and the store
	// refuses a family whose version is older than the user's (see
	// Families.CreateFamily). CreateUser ignores it: a new user starts at
	// 0 (on Redis, at the last version of its id if a deleted user had
	// it, which with random ids happens only in tests).
	CredentialVersion uint64
}

// Users stores resource owners, addressed by their login name.
type Users interface {
	// CreateUser adds u; ErrAlreadyExists if the name or id is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user named name, or ErrNotFound.
	GetUser(ctx context.Context, name string) (User, error)
	// ListUsers returns every user ordered by name.
	ListUsers(ctx context.Context) ([]User, error)
	// SetPassword replaces the password hash of the named user, raises
	// its credential version and revokes every family of the user, all
	// in one store operation: once it returns, no family that a login
	// made with the old password can exist or be created. It returns how
	// many families it revoked; ErrNotFound if there is no such user.
	SetPassword(ctx context.Context, name, passwordHash string) (revoked int, err error)
	// UpgradePasswordHash replaces the password hash of the named user
	// with newHash, a hash of the same password with other parameters,
	// if it is still oldHash; otherwise (a concurrent SetPassword won, or
	// the user is gone) it does nothing. It changes no credential version
	// and revokes nothing.
	UpgradePasswordHash(ctx context.Context, name, oldHash, newHash string) error
	// SetDisabled disables or enables the named user and raises its
	// credential version; disabling also revokes every family of the user
	// in the same operation, as SetPassword does. It returns how many
	// families it revoked; ErrNotFound if there is no such user.
	SetDisabled(ctx context.Context, name string, disabled bool) (revoked int, err error)
	// DeleteUser removes the named user and revokes every family it had,
	// in one store operation, and returns how many; ErrNotFound if there
	// is no such user.
	DeleteUser(ctx context.Context, name string) (revoked int, err error)
}

// Family is the state of one refresh-token family: born at a password
// login, rotated at every refresh, revoked as a whole. Only hashes of
// tokens are kept.
type Family struct {
	ID       string            // random, carried inside its refresh tokens
	UserID   string            // sub
	ClientID string            // the only client that may redeem it
	Scope    []string          // granted at login; never widened
	Claims   map[string]string // the user's claims at login

	Created   time.Time     // login time
	LastUsed  time.Time     // last rotation (Created before the first)
	IdleTTL   time.Duration // the family dies when unused this long
	ExpiresAt time.Time     // Created + the absolute lifetime (refresh_max_ttl)

	Generation  uint32 // generation of the current token, 0 at login
	CurrentHash []byte // hash of the current token
	// PreviousHash is the hash of the token rotated at LastUsed, and
	// SealedNext the successor it got, sealed under a key derived from
	// that token. Both serve retries within the reuse grace; a backend may
	// drop them once the grace of the rotation that set them is over (the
	// Redis backend keeps them in a key that expires then), since a replay
	// of that token is then known by its generation, below the current.
	PreviousHash []byte
	SealedNext   []byte
	// RotationScope is the scope requested by the rotation at LastUsed
	// (empty: none requested). A replay of PreviousHash within the grace
	// must request the same scope, so that it gets the very token that
	// rotation returned; it is kept as long as PreviousHash.
	RotationScope []string

	// CredentialVersion is the user's credential version that the login
	// read (User.CredentialVersion).
	CredentialVersion uint64
}

// Expiry returns when f dies if it stays unused: the earlier of its idle
// deadline and its absolute deadline.
func (f Family) Expiry() time.Time {
	idle := f.LastUsed.Add(f.IdleTTL)
	if idle.Before(f.ExpiresAt) {
		return idle
	}
	return f.ExpiresAt
}

// Redemption asks to redeem a refresh token of family FamilyID.
type Redemption struct {
	FamilyID string
	ClientID string   // the authenticated client presenting the token
	Scope    []string // requested narrowing; empty keeps the family scope

	Generation    uint32 // generation carried by the (authenticated) token
	PresentedHash []byte // hash of the presented token

	// NewHash and SealedNext describe the successor to install if the
	// presented token is the current one. SealedNext is the successor
	// sealed under a key derived from the presented token.
	NewHash    []byte
	SealedNext []byte

	Now   time.Time
	Grace time.Duration // refresh_reuse_grace
}

// Outcome says what a redemption did.
type Outcome int

// Outcomes of Redeem.
const (
	// Rotated: the presented token was current; the family now holds the
	// successor from the Redemption.
	Rotated Outcome = iota + 1
	// Replayed: the presented token was rotated within the grace; nothing
	// changed and the family's SealedNext is the successor to return.
	Replayed
	// Reused: a genuine but already rotated token was presented outside
	// the grace; the whole family has been revoked.
	Reused
	// Rejected: the token does not match the family (wrong client, a
	// generation never issued, a scope wider than granted, a replay with
	// another scope than its rotation's); nothing changed.
	Rejected
)

// String returns the outcome's name for logs.
func (o Outcome) String() string {
	switch o {
	case Rotated:
		return "rotated"
	case Replayed:
		return "replayed"
	case Reused:
		return "reused"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// Rejection reasons, set in Redeemed.Reason when the outcome is Rejected.
const (
	ReasonWrongClient = "wrong_client"
	ReasonScope       = "scope"
	ReasonUnknown     = "unknown_token"
)

// Redeemed is the result of Redeem: the outcome and the family as it is
// after the step (as it was, for Reused and Rejected).
type Redeemed struct {
	Outcome Outcome
	Reason  string // for Rejected
	Family  Family
}

// Decide is the reference of Redeem's rules, pure: it returns what
// redeeming r does to f, a family live at r.Now. In order:
//   - r.ClientID is not the family's client: Rejected (wrong_client);
//   - r.PresentedHash is the current hash: a scope wider than the
//     family's is Rejected (scope); otherwise the family rotates to
//     r.NewHash (generation+1, LastUsed = r.Now, PreviousHash = the
//     presented hash, SealedNext = r.SealedNext, RotationScope =
//     r.Scope): Rotated;
//   - r.PresentedHash is the previous hash and r.Now is before the end of
//     the grace (LastUsed plus r.Grace): a scope other than the
//     rotation's (as a set) is Rejected (scope), since the replay would
//     get another token under the same jti; otherwise Replayed (no
//     change);
//   - r.PresentedHash is the previous hash, or r.Generation is below the
//     family's generation: the family is revoked: Reused;
//   - anything else: Rejected (unknown_token), no change.
//
// The embedded backend calls it; the Redis backend runs the same rules in
// Lua, and a differential test holds the two to this one.
func Decide(f Family, r Redemption) Redeemed {
	if r.ClientID != f.ClientID {
		return Redeemed{Outcome: Rejected, Reason: ReasonWrongClient, Family: f}
	}
	if hashEqual(r.PresentedHash, f.CurrentHash) {
		if !subset(r.Scope, f.Scope) {
			return Redeemed{Outcome: Rejected, Reason: ReasonScope, Family: f}
		}
		next := f
		next.Generation++
		next.PreviousHash = f.CurrentHash
		next.CurrentHash = bytes.Clone(r.NewHash)
		next.SealedNext = bytes.Clone(r.SealedNext)
		next.RotationScope = slices.Clone(r.Scope)
		next.LastUsed = r.Now
		return Redeemed{Outcome: Rotated, Family: next}
	}
	previous := hashEqual(r.PresentedHash, f.PreviousHash)
	if previous && r.Now.Before(f.LastUsed.Add(r.Grace)) {
		if !subset(r.Scope, f.RotationScope) || !subset(f.RotationScope, r.Scope) {
			return Redeemed{Outcome: Rejected, Reason: ReasonScope, Family: f}
		}
		return Redeemed{Outcome: Replayed, Family: f}
	}
	if previous || r.Generation < f.Generation {
		return Redeemed{Outcome: Reused, Family: f}
	}
	return Redeemed{Outcome: Rejected, Reason: ReasonUnknown, Family: f}
}

// hashEqual reports whether the presented hash a is the stored hash b. An
// empty hash matches nothing (a fresh family has no previous hash).
func hashEqual(a, b []byte) bool {
	return len(b) > 0 && subtle.ConstantTimeCompare(a, b) == 1
}

// subset reports whether every scope in requested is in granted.
func subset(requested, granted []string) bool {
	for _, s := range requested {
		if !slices.Contains(granted, s) {
			return false
		}
	}
	return true
}

// Families stores refresh-token families.
type Families interface {
	// CreateFamily stores a new family whose current token hash is
	// f.CurrentHash. ErrAlreadyExists if f.ID is taken.
	// ErrStaleCredentials, storing nothing, if f.CredentialVersion is
	// older than its user's or the user is disabled or gone: the check
	// and the creation are one atomic step with respect to the Users
	// changes, so a login that read the user before a change either
	// fails here or has its family revoked by the change.
	CreateFamily(ctx context.Context, f Family) error
	// GetFamily returns a live family, or ErrNotFound if it does not
	// exist, was revoked, or has expired at now.
	GetFamily(ctx context.Context, id string, now time.Time) (Family, error)
	// Redeem performs one refresh atomically: no live family at r.Now (a
	// family whose user's credentials changed since its login is not
	// live) is ErrNotFound; otherwise the outcome is Decide's.
	Redeem(ctx context.Context, r Redemption) (Redeemed, error)
	// RevokeFamily deletes a family; no error if it does not exist.
	RevokeFamily(ctx context.Context, id string) error
	// ListFamilies returns the live families of a user at now, oldest
	// first.
	ListFamilies(ctx context.Context, userID string, now time.Time) ([]Family, error)
	// RevokeUserFamilies deletes every family of a user and returns how
	// many there were.
	RevokeUserFamilies(ctx context.Context, userID string) (int, error)
}

// KeySets stores the serialized signing-key set as one versioned blob
// (package keys owns its format). Writers use compare-and-swap, so that of
// several replicas rotating at once exactly one wins. The signatures use no
// sentinel error so that package keys, which imports nothing of ours, can
// declare the same interface.
type KeySets interface {
	// LoadKeySet returns the blob and its version; version 0 and no data
	// when none was ever stored.
	LoadKeySet(ctx context.Context) (data []byte, version int64, err error)
	// SwapKeySet stores data if the stored version is still version (0:
	// none stored yet) and returns the new version and true; it returns
	// false, storing nothing, if another writer got there first.
	SwapKeySet(ctx context.Context, version int64, data []byte) (newVersion int64, swapped bool, err error)
}

// Lockouts counts failed logins per key (a user name or a client IP) in
// fixed windows that start at the first failure. A login reserves its
// place with AddFailure before the password is checked, so that
// concurrent guesses cannot all slip under the limit, and takes the
// reservation back with RefundFailure when the attempt turns out not to
// be a failure.
type Lockouts interface {
	// AddFailure counts one failure for key at now and returns the count
	// within the current window and when that window ends.
	AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (count int, until time.Time, err error)
	// RefundFailure takes back, in one atomic step, one failure counted
	// in the window of key open at now; the window keeps its end, and is
	// removed when no failure is left in it. Nothing happens when no
	// window is open.
	RefundFailure(ctx context.Context, key string, now time.Time) error
	// Failures returns the count of the window open at now (0 if none)
	// and when it ends.
	Failures(ctx context.Context, key string, now time.Time) (count int, until time.Time, err error)
	// ResetFailures forgets the failures of key.
	ResetFailures(ctx context.Context, key string) error
}

// RevokedTokens remembers revoked access-token ids until the tokens
// would have expired anyway.
type RevokedTokens interface {
	// RevokeToken denies jti until until.
	RevokeToken(ctx context.Context, jti string, until time.Time) error
	// IsRevoked reports whether jti is denied at now.
	IsRevoked(ctx context.Context, jti string, now time.Time) (bool, error)
}

// Importer creates or updates users in batches, for `users import`: one
// transaction (or a few pipelines) per batch rather than one per user.
// It is a separate interface so that a store need not offer it.
type Importer interface {
	// ImportUsers applies PlanImport to each user against the stored user
	// of the same name and returns one result per user, in order. A
	// backend may lose a race with a concurrent change to one user (a
	// login re-hashing its password): that user is then Skipped.
	ImportUsers(ctx context.Context, users []ImportedUser, opts ImportOptions) ([]ImportResult, error)
}

// ImportOptions modify ImportUsers.
type ImportOptions struct {
	Overwrite bool // update users that did not come from the same record
	DryRun    bool // plan and report, change nothing
}

// ImportedUser is a user read from another system.
type ImportedUser struct {
	// User is stored as it is if no user has its name (ID is then the new
	// user's id); on an update, ID and Created stay the stored user's.
	User User
	// Key names the claim that identifies the source record (Django's
	// pk is kept as "user_id"): a stored user whose claim Key differs is
	// not this record's, and is only overwritten when asked to.
	Key string
}

// ImportAction says what ImportUsers did to one user.
type ImportAction int

// Actions of ImportUsers.
const (
	ImportCreated   ImportAction = iota + 1
	ImportUpdated                // the stored user came from the same record and changed
	ImportUnchanged              // the stored user came from the same record and is the same
	ImportSkipped                // the name is another user's, and overwrite was not asked
)

// ImportResult is the outcome of importing one user.
type ImportResult struct {
	Action ImportAction
	UserID string // the stored user's id
	// EndSessions reports that the password hash was replaced or the user
	// disabled: the caller revokes the user's families.
	EndSessions bool
	// Enabled reports that a disabled user is enabled by the import: the
	// caller enables it through SetDisabled too, so that every mark a
	// backend keeps of the disabled state is cleared in its own step.
	Enabled bool
}

// PlanImport decides what importing in does to existing (nil: no user of
// that name) and returns the user to store. The rules, in order:
//   - no existing user: create in.User;
//   - existing's claim in.Key differs from in.User's and overwrite is
//     false: skip (a user created here, or another record's);
//   - otherwise update claims and disabled from in.User. The password hash
//     is replaced unless the stored one is a PHC string ("$…", what this
//     server writes when a login re-hashes it or `users passwd` sets it)
//     and overwrite is false: once a user's password lives here, a
//     re-import does not bring back the old one.
func PlanImport(existing *User, in ImportedUser, overwrite bool) (User, ImportResult) {
	if existing == nil {
		return in.User, ImportResult{Action: ImportCreated, UserID: in.User.ID}
	}
	res := ImportResult{Action: ImportSkipped, UserID: existing.ID}
	same := existing.Claims[in.Key] != "" && existing.Claims[in.Key] == in.User.Claims[in.Key]
	if !same && !overwrite {
		return *existing, res
	}
	u := in.User
	u.ID, u.Created = existing.ID, existing.Created
	if strings.HasPrefix(existing.PasswordHash, "$") && !overwrite {
		u.PasswordHash = existing.PasswordHash
	}
	switch {
	case u.PasswordHash != existing.PasswordHash, u.Disabled != existing.Disabled, !maps.Equal(u.Claims, existing.Claims):
		res.Action = ImportUpdated
	default:
		res.Action = ImportUnchanged
	}
	res.EndSessions = u.PasswordHash != existing.PasswordHash || u.Disabled && !existing.Disabled
	res.Enabled = existing.Disabled && !u.Disabled
	return u, res
}

// AuthCode is an authorization code of the authorization code flow
// (RFC 6749 §4.1) with what it was issued for. Only the hash of the code
// is stored.
type AuthCode struct {
	Hash          []byte // SHA-256 of the code
	ClientID      string // the only client that may redeem it
	RedirectURI   string // as sent in the authorization request ("" if omitted)
	CodeChallenge string // PKCE S256 challenge (RFC 7636)
	UserID        string // sub
	UserName      string // to load the user again at redemption
	// CredentialVersion is the user's at the login that the code came
	// from; the family its redemption creates records it, so that
	// CreateFamily refuses it after a password change, disable or delete.
	CredentialVersion uint64
	Scope             []string // granted
	AuthTime          time.Time
	ExpiresAt         time.Time
	// FamilyID is the refresh family issued at the first redemption; set
	// by RedeemCode, empty before.
	FamilyID string
}

// AuthCodes stores authorization codes: single use, short lived.
type AuthCodes interface {
	// SaveCode stores c until c.ExpiresAt. ErrAlreadyExists if a code with
	// the same hash exists.
	SaveCode(ctx context.Context, c AuthCode) error
	// RedeemCode marks the code whose hash is hash as used, in one atomic
	// step, recording familyID as the family its redemption issues, and
	// returns it. In order:
	//  - no code with that hash, or it has expired at now: ErrNotFound;
	//  - the code was redeemed before: the code (FamilyID set by the first
	//    redemption) and ErrCodeUsed;
	//  - otherwise the code, with FamilyID = familyID.
	// Of any number of concurrent redemptions exactly one gets no error.
	RedeemCode(ctx context.Context, hash []byte, familyID string, now time.Time) (AuthCode, error)
}
