package adminapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
)

// TestListUsersWhileChanging pages through the users, a few per page,
// while other users are added and removed: no user is listed twice, and
// every user present throughout is listed.
func TestListUsersWhileChanging(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		admin := e.clientToken(t, "admin", "")
		stable := []string{"alice"}
		for i := range 20 {
			name := fmt.Sprintf("s%02d", i*2)
			e.createUser(t, admin, name)
			stable = append(stable, name)
		}
		var doomed []string
		for i := range 10 {
			doomed = append(doomed, e.createUser(t, admin, fmt.Sprintf("d%02d", i)))
		}
		first := e.do(t, req{method: "GET", path: "/admin/v1/users?limit=3", token: admin}).want(t, http.StatusOK, "")
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			// Changes land between the pages: new names sort among the
			// listed and unlisted ones alike.
			defer wg.Done()
			for i := range 20 {
				e.createUser(t, admin, fmt.Sprintf("s%02d", i*2+1))
				if i < len(doomed) {
					e.do(t, req{method: "DELETE", path: path("/admin/v1/users/%s", doomed[i]), token: admin, header: map[string]string{"If-Match": "*"}}).want(t, http.StatusNoContent, "")
				}
			}
		}()
		var names []string
		page := first
		for {
			for _, u := range page.body["users"].([]any) {
				names = append(names, u.(map[string]any)["name"].(string))
			}
			cursor := page.str("next_cursor")
			if cursor == "" {
				break
			}
			page = e.do(t, req{method: "GET", path: "/admin/v1/users?limit=3&cursor=" + url.QueryEscape(cursor), token: admin}).want(t, http.StatusOK, "")
		}
		wg.Wait()
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				t.Fatalf("%s listed twice: %v", n, names)
			}
			seen[n] = true
		}
		for _, n := range stable {
			if !seen[n] {
				t.Fatalf("%s, present throughout, not listed: %v", n, names)
			}
		}
		if !slices.IsSorted(names) {
			t.Fatalf("not ordered by name: %v", names)
		}
	})
}
