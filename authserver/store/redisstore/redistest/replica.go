package redistest

import (
	"context"
	"net"
	"strings"
	"testing"

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
	// Linked is not yet acknowledging: right after the initial sync a WAIT
	// may find no replica at the master's offset. The master lists the
	// replica online with a lag of at most a second once it has heard its
	// acknowledgement.
	c := redis.NewClient(&redis.Options{Addr: master.Addr, MaintNotificationsConfig: noMaint()})
	defer c.Close()
	_, rport, _ := net.SplitHostPort(r.Addr)
	testutil.Eventually(t, startTimeout, "replica "+r.Addr+" acknowledging", func() bool {
		info, err := c.Info(context.Background(), "replication").Result()
		if err != nil {
			return false
		}
		for _, line := range strings.Split(info, "\n") {
			line = strings.TrimSpace(line)
			if strings.Contains(line, ",port="+rport+",state=online,") &&
				(strings.HasSuffix(line, ",lag=0") || strings.HasSuffix(line, ",lag=1")) {
				return true
			}
		}
		return false
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
