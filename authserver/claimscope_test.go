package authserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/store"
)

const djangoPass = "django user's password"

// importDjangoUser imports the Django user dj (pk 7, staff, every field
// set) into e's store as `users import` does (which, like this, works on
// the store itself, not through the server), and sets its password.
func importDjangoUser(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	dump := `[{"model": "auth.user", "pk": 7, "fields": {"password": "!", "username": "dj", "first_name": "Dj", "last_name": "Ango",
		"email": "dj@example.com", "is_staff": true, "is_active": true, "date_joined": "2023-05-06T07:08:09Z"}}]`
	sum, err := authserver.NewUsers(e.store, nil, nil).ImportDjango(ctx, strings.NewReader(dump), store.ImportOptions{}, func(l string) { t.Error(l) })
	if err != nil || sum.Created != 1 {
		t.Fatalf("import: %+v, %v", sum, err)
	}
	if _, err := e.srv.Users().SetPassword(ctx, "dj", djangoPass); err != nil {
		t.Fatal(err)
	}
}

// userClaims lists which of the claims a Django import sets the token
// carries, sorted and space-separated.
func userClaims(claims map[string]any) string {
	var out []string
	for _, k := range []string{"email", "first_name", "is_staff", "last_name", "user_id", "username"} {
		if _, ok := claims[k]; ok {
			out = append(out, k)
		}
	}
	return strings.Join(out, " ")
}

// TestDjangoClaimScopes: the claims that users import maps from Django's
// username, first_name, last_name (scope profile), email (scope email) and
// is_staff (scope staff) go into an access token only when its scope has
// theirs, at a password login, at each refresh (a narrowed refresh drops
// them) and at an authorization code redemption; user_id goes into every
// token. Claims of a user added here (alice's email) go into every token,
// as before.
func TestDjangoClaimScopes(t *testing.T) {
	e := newCodeEnvWith(t, func(o *authserver.Options) {
		o.Clients = append(o.Clients,
			authserver.Client{ID: "full", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"profile", "email", "staff", "orders:read"}},
			authserver.Client{ID: "drf", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"email"}, TokenProfile: authserver.TokenProfileSimpleJWT},
		)
	})
	importDjangoUser(t, e)
	tests := []struct {
		name, client, user, pass, scope string
		want                            string
	}{
		{"every-scope-by-default", "full", "dj", djangoPass, "", "email first_name is_staff last_name user_id username"},
		{"profile", "full", "dj", djangoPass, "profile", "first_name last_name user_id username"},
		{"email", "full", "dj", djangoPass, "email", "email user_id"},
		{"staff", "full", "dj", djangoPass, "staff", "is_staff user_id"},
		{"email-and-staff", "full", "dj", djangoPass, "staff email", "email is_staff user_id"},
		{"no-claim-scope", "full", "dj", djangoPass, "orders:read", "user_id"},
		{"client-without-email", "app", "dj", djangoPass, "", "first_name last_name user_id username"},
		{"simplejwt-email-only", "drf", "dj", djangoPass, "", "email user_id"},
		{"added-user-keeps-its-claims", "app", "alice", alicePass, "orders:read", "email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", tc.client, "username", tc.user, "password", tc.pass, "scope", tc.scope), "")
			if r.status != 200 {
				t.Fatalf("login: %d %s", r.status, r.raw)
			}
			_, claims := e.verifyToken(t, r.str("access_token"))
			if got := userClaims(claims); got != tc.want {
				t.Errorf("login: claims %q, want %q (token %v)", got, tc.want, claims)
			}
			rr := e.post(t, "/oauth2/token", form("grant_type", "refresh_token", "client_id", tc.client, "refresh_token", r.str("refresh_token")), "")
			if rr.status != 200 {
				t.Fatalf("refresh: %d %s", rr.status, rr.raw)
			}
			_, refreshed := e.verifyToken(t, rr.str("access_token"))
			if got := userClaims(refreshed); got != tc.want {
				t.Errorf("refresh: claims %q, want those of the login, %q", got, tc.want)
			}
			if tc.user == "dj" && (claims["user_id"] != refreshed["user_id"] || claims["email"] != refreshed["email"]) {
				t.Errorf("refresh changed a value: %v, then %v", claims, refreshed)
			}
		})
	}

	t.Run("values", func(t *testing.T) {
		r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "full", "username", "dj", "password", djangoPass), "")
		_, claims := e.verifyToken(t, r.str("access_token"))
		for k, want := range map[string]any{"user_id": "7", "username": "dj", "first_name": "Dj", "last_name": "Ango", "email": "dj@example.com", "is_staff": "true"} {
			if claims[k] != want {
				t.Errorf("claim %s = %#v, want %#v", k, claims[k], want)
			}
		}
		r = e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "drf", "username", "dj", "password", djangoPass), "")
		if _, claims = e.verifyToken(t, r.str("access_token")); claims["user_id"] != float64(7) {
			t.Errorf("simplejwt user_id = %#v, want the number 7", claims["user_id"])
		}
	})

	t.Run("refresh-narrows-the-claims", func(t *testing.T) {
		r := e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "full", "username", "dj", "password", djangoPass), "")
		steps := []struct{ scope, want string }{
			{"email staff", "email is_staff user_id"},
			{"email", "email user_id"},
			{"", "email first_name is_staff last_name user_id username"}, // the family's own scope again
		}
		rt := r.str("refresh_token")
		for _, s := range steps {
			rr := e.post(t, "/oauth2/token", form("grant_type", "refresh_token", "client_id", "full", "refresh_token", rt, "scope", s.scope), "")
			if rr.status != 200 {
				t.Fatalf("refresh with scope %q: %d %s", s.scope, rr.status, rr.raw)
			}
			rt = rr.str("refresh_token")
			_, claims := e.verifyToken(t, rr.str("access_token"))
			if got := userClaims(claims); got != s.want {
				t.Errorf("refresh with scope %q: claims %q, want %q", s.scope, got, s.want)
			}
		}
	})

	t.Run("authorization-code", func(t *testing.T) {
		for _, scope := range []string{"profile", "orders:read"} {
			b := e.browser()
			p := b.signIn(t, b.get(t, authzQuery("scope", scope)), "dj", djangoPass)
			r := e.redeem(t, e.codeFrom(t, p, spaRedirect, "st-123"))
			if r.status != 200 {
				t.Fatalf("redeem: %d %s", r.status, r.raw)
			}
			_, claims := e.verifyToken(t, r.str("access_token"))
			want := map[string]string{"profile": "first_name last_name user_id username", "orders:read": "user_id"}[scope]
			if got := userClaims(claims); got != want {
				t.Errorf("code flow with scope %s: claims %q, want %q", scope, got, want)
			}
		}
	})
}
