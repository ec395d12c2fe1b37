package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

// BenchmarkRedeemMinReplicas rotates one family on a master with one
// replica, with MinReplicas 0 and 1 in the same run: the cost of the WAIT
// per refresh (docs/redis.md). Beside ns/op it reports the CPU time per
// rotation of this process and of the master.
func BenchmarkRedeemMinReplicas(b *testing.B) {
	master := redistest.StartServer(b)
	redistest.StartReplica(b, master)
	for _, n := range []int{0, 1} {
		b.Run(fmt.Sprintf("min_replicas=%d", n), func(b *testing.B) {
			s := openStore(b, redisstore.Options{Addrs: []string{master.Addr}, KeyPrefix: redistest.Prefix(b),
				MinReplicas: n, ReplicaTimeout: time.Second})
			f := benchFamily("fam-bench", time.Now().UTC().Truncate(time.Second))
			if err := s.CreateFamily(context.Background(), f); err != nil {
				b.Fatalf("CreateFamily: %v", err)
			}
			self, redis := processCPU(), redisCPU(b, master.Addr)
			ops := 0
			redeemChain(b, s, f, func() bool { ops++; return b.Loop() })
			b.ReportMetric(float64((processCPU()-self).Microseconds())/float64(ops), "client-cpu-µs/op")
			b.ReportMetric(float64((redisCPU(b, master.Addr)-redis).Microseconds())/float64(ops), "master-cpu-µs/op")
		})
	}
}

// processCPU returns the user and system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU returns the user and system CPU time of the Redis at addr.
func redisCPU(b *testing.B, addr string) time.Duration {
	var total float64
	for _, f := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(redistest.InfoField(b, addr, "cpu", f), 64)
		if err != nil {
			b.Fatalf("INFO cpu %s: %v", f, err)
		}
		total += v
	}
	return time.Duration(total * float64(time.Second))
}
