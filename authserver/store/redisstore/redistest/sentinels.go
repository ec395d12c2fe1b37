package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartSentinels starts n Sentinels that monitor master under masterName
// with a quorum of a majority, declare it down after downAfter and may
// retry a failover after 3 × downAfter, as a production deployment of
// three would, and returns them once each knows the master. They are
// killed when t ends.
func StartSentinels(t testing.TB, master *Server, masterName string, n int, downAfter time.Duration) []*Server {
	t.Helper()
	bin := binary(t)
	host, masterPort, _ := net.SplitHostPort(master.Addr)
	out := make([]*Server, n)
	for i := range out {
		dir := t.TempDir()
		port := freePort(t)
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile sentinel.log\n"+
			"sentinel monitor %[3]s %[4]s %[5]s %[6]d\n"+
			"sentinel down-after-milliseconds %[3]s %[7]d\nsentinel failover-timeout %[3]s %[8]d\n",
			port, dir, masterName, host, masterPort, n/2+1, downAfter.Milliseconds(), 3*downAfter.Milliseconds())
		path := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatalf("write sentinel config: %v", err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, t: t, args: []string{bin, path, "--sentinel"}}
		t.Cleanup(func() {
			s.Kill()
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
				t.Logf("sentinel %s log (tail):\n%s", s.Addr, tail(b, 4000))
			}
		})
		s.Start()
		out[i] = s
	}
	for _, s := range out {
		if got := SentinelMaster(t, s.Addr, masterName); got != master.Addr {
			t.Fatalf("sentinel %s: master %q, want %s", s.Addr, got, master.Addr)
		}
	}
	return out
}

// SentinelMaster returns the address of masterName's master as the
// Sentinel at addr knows it, or "" if it cannot tell within a few seconds.
func SentinelMaster(t testing.TB, addr, masterName string) string {
	t.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: addr, MaintNotificationsConfig: noMaint()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		got, err := c.GetMasterAddrByName(ctx, masterName).Result()
		if err == nil && len(got) == 2 {
			return net.JoinHostPort(got[0], got[1])
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(20 * time.Millisecond): // polling for the sentinel
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
