package verify_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oauthkit/authserver/verify"
)

func TestNewLocal(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	payload := func(iss, aud string, exp time.Time) string {
		return fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"svc","client_id":"svc","exp":%d,"scope":"a b"}`, iss, aud, exp.Unix())
	}
	errBad := errors.New("bad signature")
	// The check stands for the issuer's own signature check: the token
	// "good:PAYLOAD" verifies and yields PAYLOAD.
	check := func(token []byte) ([]byte, error) {
		if len(token) < 5 || string(token[:5]) != "good:" {
			return nil, errBad
		}
		return token[5:], nil
	}
	v, err := verify.NewLocal("https://issuer.example", check, verify.WithAudience("https://issuer.example"), verify.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid", "good:" + payload("https://issuer.example", "https://issuer.example", now.Add(time.Minute)), nil},
		{"bad-signature", "forged:" + payload("https://issuer.example", "https://issuer.example", now.Add(time.Minute)), verify.ErrSignature},
		{"wrong-issuer", "good:" + payload("https://other.example", "https://issuer.example", now.Add(time.Minute)), verify.ErrIssuer},
		{"wrong-audience", "good:" + payload("https://issuer.example", "api", now.Add(time.Minute)), verify.ErrAudience},
		{"expired", "good:" + payload("https://issuer.example", "https://issuer.example", now.Add(-time.Hour)), verify.ErrExpired},
		{"not-json", "good:nope", verify.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.token)
			if tc.want == nil {
				if err != nil || c.Subject != "svc" || !c.HasScope("b") {
					t.Fatalf("Verify = %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := verify.NewLocal("https://issuer.example", nil, verify.WithoutAudienceCheck()); err == nil {
		t.Fatal("NewLocal accepted a nil check")
	}
}
