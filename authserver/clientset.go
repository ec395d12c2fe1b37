package authserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// clientSet is the live client registry. SetClients replaces it as a
// whole, atomically: a request authenticates against the old registry or
// the new one, never a mix, and never waits for a reload.
type clientSet struct {
	cur   atomic.Pointer[clientGeneration]
	used  *prometheus.CounterVec
	audit *slog.Logger
}

// clientGeneration is one registry and the secrets seen in use since it
// was installed.
type clientGeneration struct {
	reg     clientRegistry
	clients []Client
	origins map[string]bool // allowedOrigins(clients)
	seen    sync.Map        // client id + "/" + secret id → struct{}
}

func newClientSet(clients []Client, m *metrics, audit *slog.Logger) (*clientSet, error) {
	cs := &clientSet{
		used: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authserver_client_secret_used_total",
			Help: "Successful authentications of confidential clients, by client and secret id (see `authserver config check`).",
		}, []string{"client_id", "secret"}),
		audit: audit,
	}
	m.reg.MustRegister(cs.used)
	if err := cs.set(clients); err != nil {
		return nil, err
	}
	return cs, nil
}

// set validates clients and installs them; on error the installed
// registry stays.
func (cs *clientSet) set(clients []Client) error {
	clients = slices.Clone(clients)
	reg, err := newClientRegistry(clients)
	if err != nil {
		return err
	}
	cs.cur.Store(&clientGeneration{reg: reg, clients: clients, origins: allowedOrigins(clients)})
	return nil
}

// lookup returns the installed client id.
func (cs *clientSet) lookup(id string) (*Client, bool) {
	rc, ok := cs.cur.Load().reg[id]
	return rc.Client, ok
}

// allowsOrigin reports whether some installed client lists origin in its
// allowed_origins, so that a reload changes CORS with the clients.
func (cs *clientSet) allowsOrigin(origin string) bool { return cs.cur.Load().origins[origin] }

// list returns the installed clients.
func (cs *clientSet) list() []Client { return cs.cur.Load().clients }

// authenticate authenticates the client of r against the installed
// registry and records which of its secrets matched: always in the
// metric, and once per secret and registry in the audit log, so that an
// operator rotating a secret sees whether the old one is still presented.
func (cs *clientSet) authenticate(r *http.Request, p params) (*Client, error) {
	gen := cs.cur.Load()
	c, secretID, err := gen.reg.authenticate(r, p)
	if err != nil || secretID == "" {
		return c, err
	}
	cs.used.WithLabelValues(c.ID, secretID).Inc()
	if _, dup := gen.seen.LoadOrStore(c.ID+"/"+secretID, struct{}{}); !dup {
		cs.audit.Info("client secret in use", "event", "client_secret_used", "client_id", c.ID, "secret", secretID,
			"live_secrets", len(gen.reg[c.ID].secrets))
	}
	return c, nil
}

// SetClients replaces the registered clients at once, for a configuration
// reload: requests that follow authenticate against the new list. The
// list is checked as New checks it; if it is refused, the clients in use
// stay and the error says why. The metadata document's scopes_supported
// follows the new list.
func (s *Server) SetClients(clients []Client) error {
	if err := s.clients.set(clients); err != nil {
		return fmt.Errorf("set clients: %w", err)
	}
	s.metadata.Store(s.buildMetadata())
	s.audit.Info("clients replaced", "event", "clients_reloaded", "clients", len(clients))
	return nil
}
