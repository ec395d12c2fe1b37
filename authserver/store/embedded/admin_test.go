package embedded

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestListUsersAfterUsesIndex checks that a page of users is a search of
// the name index, never a scan of the table nor a sort: its cost is the
// page's, at a million users as at ten.
func TestListUsersAfterUsesIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+listUsersAfterQuery, "m", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	got := strings.Join(plan, "; ")
	if !strings.Contains(got, "SEARCH users USING INDEX") || strings.Contains(got, "TEMP B-TREE") {
		t.Fatalf("query plan %q: want a search of the name index without a sort", got)
	}
}
