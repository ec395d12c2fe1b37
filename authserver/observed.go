package authserver

import (
	"context"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// observedStore times the store calls of the request path and counts
// their failures, for the store latency and error metrics. Calls it does
// not override (administration, key sets) pass straight through.
type observedStore struct {
	store.Store
	m *metrics
}

var _ store.Store = observedStore{}

func observe[T any](m *metrics, op string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	m.observeStore(op, start, err)
	return v, err
}

func observeErr(m *metrics, op string, f func() error) error {
	_, err := observe(m, op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

// window is a lockout counter reading.
type window struct {
	count int
	until time.Time
}

// GetUser times and counts the wrapped store's GetUser.
func (o observedStore) GetUser(ctx context.Context, name string) (store.User, error) {
	return observe(o.m, "get_user", func() (store.User, error) { return o.Store.GetUser(ctx, name) })
}

// CreateFamily times and counts the wrapped store's CreateFamily.
func (o observedStore) CreateFamily(ctx context.Context, f store.Family) error {
	return observeErr(o.m, "create_family", func() error { return o.Store.CreateFamily(ctx, f) })
}

// GetFamily times and counts the wrapped store's GetFamily.
func (o observedStore) GetFamily(ctx context.Context, id string, now time.Time) (store.Family, error) {
	return observe(o.m, "get_family", func() (store.Family, error) { return o.Store.GetFamily(ctx, id, now) })
}

// Redeem times and counts the wrapped store's Redeem.
func (o observedStore) Redeem(ctx context.Context, r store.Redemption) (store.Redeemed, error) {
	return observe(o.m, "redeem", func() (store.Redeemed, error) { return o.Store.Redeem(ctx, r) })
}

// RevokeFamily times and counts the wrapped store's RevokeFamily.
func (o observedStore) RevokeFamily(ctx context.Context, id string) error {
	return observeErr(o.m, "revoke_family", func() error { return o.Store.RevokeFamily(ctx, id) })
}

// AddFailure times and counts the wrapped store's AddFailure.
func (o observedStore) AddFailure(ctx context.Context, key string, now time.Time, d time.Duration) (int, time.Time, error) {
	w, err := observe(o.m, "add_failure", func() (window, error) {
		n, until, err := o.Store.AddFailure(ctx, key, now, d)
		return window{n, until}, err
	})
	return w.count, w.until, err
}

// Failures times and counts the wrapped store's Failures.
func (o observedStore) Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	w, err := observe(o.m, "failures", func() (window, error) {
		n, until, err := o.Store.Failures(ctx, key, now)
		return window{n, until}, err
	})
	return w.count, w.until, err
}

// RefundFailure times and counts the wrapped store's RefundFailure.
func (o observedStore) RefundFailure(ctx context.Context, key string, now time.Time) error {
	return observeErr(o.m, "refund_failure", func() error { return o.Store.RefundFailure(ctx, key, now) })
}

// ResetFailures times and counts the wrapped store's ResetFailures.
func (o observedStore) ResetFailures(ctx context.Context, key string) error {
	return observeErr(o.m, "reset_failures", func() error { return o.Store.ResetFailures(ctx, key) })
}

// RevokeToken times and counts the wrapped store's RevokeToken.
func (o observedStore) RevokeToken(ctx context.Context, jti string, until time.Time) error {
	return observeErr(o.m, "revoke_token", func() error { return o.Store.RevokeToken(ctx, jti, until) })
}

// IsRevoked times and counts the wrapped store's IsRevoked.
func (o observedStore) IsRevoked(ctx context.Context, jti string, now time.Time) (bool, error) {
	return observe(o.m, "is_revoked", func() (bool, error) { return o.Store.IsRevoked(ctx, jti, now) })
}

// Ping times and counts the wrapped store's Ping.
func (o observedStore) Ping(ctx context.Context) error {
	return observeErr(o.m, "ping", func() error { return o.Store.Ping(ctx) })
}

// SaveCode times and counts the wrapped store's SaveCode.
func (o observedStore) SaveCode(ctx context.Context, c store.AuthCode) error {
	return observeErr(o.m, "save_code", func() error { return o.Store.SaveCode(ctx, c) })
}

// RedeemCode times and counts the wrapped store's RedeemCode.
func (o observedStore) RedeemCode(ctx context.Context, hash []byte, familyID string, now time.Time) (store.AuthCode, error) {
	return observe(o.m, "redeem_code", func() (store.AuthCode, error) { return o.Store.RedeemCode(ctx, hash, familyID, now) })
}
