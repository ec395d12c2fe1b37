package authserver_test

import (
	"context"
	"sync"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// faultStore is a real store whose request-path calls can be made to fail
// with a chosen error, or to panic, by operation name.
type faultStore struct {
	store.Store
	mu     sync.Mutex
	faults map[string]error
}

// errPanic, set as a fault, makes the call panic instead of failing.
var errPanic = &panicFault{}

type panicFault struct{}

func (*panicFault) Error() string { return "injected panic" }

// set makes op fail with err from now on (nil heals it).
func (f *faultStore) set(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.faults == nil {
		f.faults = map[string]error{}
	}
	f.faults[op] = err
}

func (f *faultStore) fault(op string) error {
	f.mu.Lock()
	err := f.faults[op]
	f.mu.Unlock()
	if err == errPanic {
		panic("injected panic in " + op)
	}
	return err
}

func (f *faultStore) GetUser(ctx context.Context, name string) (store.User, error) {
	if err := f.fault("GetUser"); err != nil {
		return store.User{}, err
	}
	return f.Store.GetUser(ctx, name)
}

func (f *faultStore) CreateFamily(ctx context.Context, fam store.Family) error {
	if err := f.fault("CreateFamily"); err != nil {
		return err
	}
	return f.Store.CreateFamily(ctx, fam)
}

func (f *faultStore) GetFamily(ctx context.Context, id string, now time.Time) (store.Family, error) {
	if err := f.fault("GetFamily"); err != nil {
		return store.Family{}, err
	}
	return f.Store.GetFamily(ctx, id, now)
}

func (f *faultStore) Redeem(ctx context.Context, r store.Redemption) (store.Redeemed, error) {
	if err := f.fault("Redeem"); err != nil {
		return store.Redeemed{}, err
	}
	return f.Store.Redeem(ctx, r)
}

func (f *faultStore) RevokeFamily(ctx context.Context, id string) error {
	if err := f.fault("RevokeFamily"); err != nil {
		return err
	}
	return f.Store.RevokeFamily(ctx, id)
}

func (f *faultStore) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	if err := f.fault("AddFailure"); err != nil {
		return 0, time.Time{}, err
	}
	return f.Store.AddFailure(ctx, key, now, window)
}

func (f *faultStore) Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	if err := f.fault("Failures"); err != nil {
		return 0, time.Time{}, err
	}
	return f.Store.Failures(ctx, key, now)
}

func (f *faultStore) ResetFailures(ctx context.Context, key string) error {
	if err := f.fault("ResetFailures"); err != nil {
		return err
	}
	return f.Store.ResetFailures(ctx, key)
}

func (f *faultStore) RevokeToken(ctx context.Context, jti string, until time.Time) error {
	if err := f.fault("RevokeToken"); err != nil {
		return err
	}
	return f.Store.RevokeToken(ctx, jti, until)
}

func (f *faultStore) IsRevoked(ctx context.Context, jti string, now time.Time) (bool, error) {
	if err := f.fault("IsRevoked"); err != nil {
		return false, err
	}
	return f.Store.IsRevoked(ctx, jti, now)
}
