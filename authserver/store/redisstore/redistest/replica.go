package redistest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// StartReplica starts a redis-server (as StartServer, with args) that
// replicates master, and waits until its link to the master is up and the
// master counts it, so that a WAIT on the master can be answered by it.
func StartReplica(t testing.TB, master *Server, args ...string) *Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(master.Addr)
	r := StartServer(t, append([]string{"--replicaof", host, port}, args...)...)
	testutil.Eventually(t, startTimeout, "replica "+r.Addr+" linked to "+master.Addr, func() bool {
		return InfoField(t, r.Addr, "replication", "master_link_status") == "up" &&
			InfoField(t, master.Addr, "replication", "connected_slaves") != "0"
	})
	// Linked is not yet acknowledging: the first WAIT after the initial
	// sync may find no replica. A write that a replica acknowledged is.
	c := redis.NewClient(&redis.Options{Addr: master.Addr, MaintNotificationsConfig: noMaint()})
	defer c.Close()
	testutil.Eventually(t, startTimeout, "replica "+r.Addr+" acknowledging writes", func() bool {
		ctx := context.Background()
		if c.Set(ctx, "redistest:replica-probe", r.Addr, time.Second).Err() != nil {
			return false
		}
		n, err := c.Wait(ctx, 1, time.Second).Result()
		return err == nil && n >= 1
	})
	return r
}

// StartReplicaOf starts s again, after Stop or Kill, as a replica of the
// server at master, as a node whose configuration file Sentinel rewrote
// would come back.
func (s *Server) StartReplicaOf(master string) {
	s.t.Helper()
	host, port, _ := net.SplitHostPort(master)
	args := []string{s.args[0]}
	for i := 1; i < len(s.args); i++ {
		if s.args[i] == "--replicaof" && i+2 < len(s.args) {
			i += 2
			continue
		}
		args = append(args, s.args[i])
	}
	s.args = append(args, "--replicaof", host, port)
	s.Start()
}
