// Package store defines the storage contract of authserver: users,
// refresh-token families, the serialized signing-key set, lockout counters
// and revoked access-token ids. Backends live in sibling packages
// (embedded, redis) and all pass the conformance suite in storetest.
//
// The contract is shaped so that every state change is one atomic step in
// the backend: one SQL transaction, or one Redis command or Lua script. In
// particular Redeem checks, rotates, detects reuse and revokes in a single
// step, so that of any number of concurrent redemptions of one refresh
// token exactly one rotates the family.
package store

import (
	"context"
	"errors"
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
	// ErrConflict reports that a compare-and-swap lost against a concurrent
	// writer: the caller should reload and retry.
	ErrConflict = errors.New("conflict")
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
}

// Users stores resource owners, addressed by their login name.
type Users interface {
	// CreateUser adds u; ErrAlreadyExists if the name or id is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user named name, or ErrNotFound.
	GetUser(ctx context.Context, name string) (User, error)
	// ListUsers returns every user ordered by name.
	ListUsers(ctx context.Context) ([]User, error)
	// SetPassword replaces the password hash of the named user;
	// ErrNotFound if there is none.
	SetPassword(ctx context.Context, name, passwordHash string) error
	// SetDisabled disables or enables the named user; ErrNotFound if
	// there is none.
	SetDisabled(ctx context.Context, name string, disabled bool) error
	// DeleteUser removes the named user; ErrNotFound if there is none.
	DeleteUser(ctx context.Context, name string) error
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
	// generation never issued, a scope wider than granted); nothing
	// changed.
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

// Families stores refresh-token families.
type Families interface {
	// CreateFamily stores a new family whose current token hash is
	// f.CurrentHash. ErrAlreadyExists if f.ID is taken.
	CreateFamily(ctx context.Context, f Family) error
	// GetFamily returns a live family, or ErrNotFound if it does not
	// exist, was revoked, or has expired at now.
	GetFamily(ctx context.Context, id string, now time.Time) (Family, error)
	// Redeem performs one refresh atomically. In order:
	//  - no live family at r.Now: ErrNotFound;
	//  - r.ClientID is not the family's client: Rejected (wrong_client);
	//  - r.PresentedHash is the current hash: a scope wider than the
	//    family's is Rejected (scope); otherwise the family rotates to
	//    r.NewHash (generation+1, LastUsed = r.Now, PreviousHash = the
	//    presented hash, SealedNext = r.SealedNext): Rotated;
	//  - r.PresentedHash is the previous hash and r.Now is within r.Grace
	//    of LastUsed: Replayed (no change);
	//  - r.PresentedHash is the previous hash, or r.Generation is below the
	//    family's generation: the family is revoked: Reused;
	//  - anything else: Rejected (unknown_token), no change.
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

// AuthCode is an authorization code of the authorization code flow
// (RFC 6749 §4.1) with what it was issued for. Only the hash of the code
// is stored.
type AuthCode struct {
	Hash          []byte   // SHA-256 of the code
	ClientID      string   // the only client that may redeem it
	RedirectURI   string   // as sent in the authorization request ("" if omitted)
	CodeChallenge string   // PKCE S256 challenge (RFC 7636)
	UserID        string   // sub
	UserName      string   // to load the user again at redemption
	Scope         []string // granted
	AuthTime      time.Time
	ExpiresAt     time.Time
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
