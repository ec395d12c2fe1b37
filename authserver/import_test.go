package authserver_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/password"
	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/embedded"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redisstoretest"
)

// djangoDump streams a `manage.py dumpdata auth.user` of n users, the pks
// starting at first, generated as it is read.
func djangoDump(first, n int) io.Reader {
	r, w := io.Pipe()
	go func() {
		const hash = "pbkdf2_sha256$1000000$Gb1HkFPklPwGdPqgfDcAC9$5u0Mo2lVlb1N2vegWqyFTKuLmNXaz5L0Htms/LXIlAY="
		fmt.Fprint(w, "[")
		for i := range n {
			sep := ","
			if i == 0 {
				sep = ""
			}
			pk := first + i
			_, err := fmt.Fprintf(w, `%s{"model": "auth.user", "pk": %d, "fields": {"password": %q, "last_login": null, "is_superuser": false, "username": "user%d", "first_name": "First", "last_name": "Last", "email": "user%d@example.com", "is_staff": false, "is_active": true, "date_joined": "2023-05-06T07:08:09.123Z", "groups": [], "user_permissions": []}}`,
				sep, pk, hash, pk, pk)
			if err != nil {
				return
			}
		}
		fmt.Fprint(w, "]")
		w.Close()
	}()
	return r
}

func importStores(b testing.TB) map[string]func() store.Store {
	return map[string]func() store.Store{
		"embedded": func() store.Store {
			s, err := embedded.Open(filepath.Join(b.TempDir(), "a.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		"redis": func() store.Store { return redisstoretest.Open(b) },
	}
}

// BenchmarkImportDjango measures `users import` without the process around
// it: decoding the dump, mapping the users and writing them in batches,
// 20,000 new users per operation into an empty store. The issue asks for
// at least 20,000 users/s into either store.
//
//	go test -run '^$' -bench ImportDjango ./authserver/
func BenchmarkImportDjango(b *testing.B) {
	const users = 20_000
	h, err := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1}, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"embedded", "redis"} {
		b.Run(name, func(b *testing.B) {
			open := importStores(b)[name]
			pk := 0
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				u := authserver.NewUsers(open(), h, nil)
				dump := djangoDump(pk, users)
				pk += users
				b.StartTimer()
				start := time.Now()
				sum, err := u.ImportDjango(context.Background(), dump, store.ImportOptions{}, func(string) {})
				elapsed += time.Since(start)
				if err != nil || sum.Created != users {
					b.Fatalf("ImportDjango: %+v, %v", sum, err)
				}
			}
			b.ReportMetric(float64(users*b.N)/elapsed.Seconds(), "users/s")
		})
	}
}

// TestImportDjangoConstantMemory imports a dump ten times as large as
// another and requires the heap in use to grow by far less than ten times:
// the dump is read as a stream, one batch at a time.
func TestImportDjangoConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 55,000 users")
	}
	h, err := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	peakHeap := func(n int) uint64 {
		u := authserver.NewUsers(importStores(t)["embedded"](), h, nil)
		done := make(chan struct{})
		var peak uint64
		go func() {
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
				select {
				case <-done:
					close(done)
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		sum, err := u.ImportDjango(context.Background(), djangoDump(0, n), store.ImportOptions{}, func(string) {})
		done <- struct{}{}
		<-done
		if err != nil || sum.Created != n {
			t.Fatalf("ImportDjango(%d): %+v, %v", n, sum, err)
		}
		return peak
	}
	runtime.GC()
	small := peakHeap(5_000)
	runtime.GC()
	large := peakHeap(50_000)
	t.Logf("peak heap in use: %d KiB for 5,000 users, %d KiB for 50,000", small>>10, large>>10)
	if large > 3*small {
		t.Errorf("the heap grows with the dump: %d KiB for 5,000 users, %d KiB for 50,000", small>>10, large>>10)
	}
}
