package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/config"
	"github.com/oauthkit/authserver/keys"
)

func commandServe(flags *rootFlags) *cobra.Command {
	var dev bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the token service",
		Long: `Run the token service. The first signing key is created if the store has none.
The configuration is --config (or AUTHSERVER_CONFIG), if any, and AUTHSERVER_*
variables over the defaults. --dev (development only) uses the embedded store
under ./data and seeds a demo client and a demo user, printing their
credentials and a curl command.
On SIGHUP the configuration file is read again and its clients list replaces the
running one (other keys need a restart; an invalid file is refused and logged).
On SIGTERM /readyz answers 503 at once, requests are served for
http.shutdown_delay, then in-flight ones get http.shutdown_timeout to finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, flags, dev, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&dev, "dev", false, "development mode: embedded store under ./data, demo client and user")
	return cmd
}

// serve runs the server until ctx is done, then drains it. Each step is a
// function of its own: open the store, load the keys, build the server,
// listen, run and drain.
func serve(ctx context.Context, flags *rootFlags, dev bool, out, logOut io.Writer) error {
	a, err := openApp(flags, dev, logOut)
	if err != nil {
		return err
	}
	defer a.store.Close()
	if dev {
		a.cfg.Clients = withDemoClient(a.cfg.Clients)
	}
	// Background work (key rotation, reloads) outlives the signal: it
	// stops only once the drain is over.
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	km, err := startKeys(bg, a)
	if err != nil {
		return err
	}
	srv, err := newServer(a, km)
	if err != nil {
		return err
	}
	if err := mountAPIs(a, srv, km); err != nil {
		return err
	}
	if dev {
		if err := seedDemo(ctx, a, srv.Users(), out); err != nil {
			return err
		}
	}
	hup, stopHangups := hangups()
	defer stopHangups()
	go reloadClients(bg, hup, flags, dev, a, srv)
	gate := &readiness{}
	ls, err := listen(a, srv, gate)
	if err != nil {
		return err
	}
	return run(ctx, a, ls, gate)
}

// startKeys loads the signing keys (creating the first one if the store
// has none) and keeps them current until ctx is done.
func startKeys(ctx context.Context, a *app) (*keys.Manager, error) {
	km, err := a.keyManager(a.log, a.cfg.Keys.Signer)
	if err != nil {
		return nil, err
	}
	if err := km.Init(ctx); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	go km.Run(ctx)
	return km, nil
}

// newServer builds the OAuth2 server from the configuration.
func newServer(a *app, km *keys.Manager) (*authserver.Server, error) {
	hasher, err := a.hasher()
	if err != nil {
		return nil, err
	}
	refreshKey, previousKeys, err := a.refreshKeys()
	if err != nil {
		return nil, err
	}
	c := a.cfg
	proxies, err := config.ParsePrefixes(c.HTTP.TrustedProxies)
	if err != nil {
		return nil, err
	}
	return authserver.New(authserver.Options{
		Issuer:            c.Issuer,
		AccessTTL:         c.Tokens.AccessTTL,
		RefreshIdleTTL:    c.Tokens.RefreshIdleTTL,
		RefreshMaxTTL:     c.Tokens.RefreshMaxTTL,
		RefreshReuseGrace: c.Tokens.RefreshReuseGrace,
		Audience:          c.Tokens.Audience,
		Clients:           clientsFromConfig(c.Clients),
		Lockout: authserver.Lockout{
			MaxFailures:      c.Passwords.Lockout.MaxFailures,
			MaxFailuresPerIP: c.Passwords.Lockout.MaxFailuresPerIP,
			Window:           c.Passwords.Lockout.Window,
		},
		Login: authserver.LoginOptions{
			SessionTTL: c.Login.SessionTTL, TemplatesDir: c.Login.TemplatesDir, ProductName: c.Login.ProductName,
		},
		TrustedProxies: proxies,
		Store:          a.store,
		Signer:         km,
		Hasher:         hasher,
		RefreshKey:     refreshKey,
		// Refresh tokens issued under a previous key keep working until
		// their next refresh, which issues them under the current one.
		PreviousRefreshKeys: previousKeys,
		RefreshKeyIDs:       a.kekIDs(),
		Logger:              a.log,
	})
}

// listen opens the public listener, behind the readiness gate, and the
// admin listener when http.admin_addr is set.
func listen(a *app, srv *authserver.Server, gate *readiness) ([]*listener, error) {
	c := a.cfg
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	servers := []*listener{{name: "http.addr", addr: c.HTTP.Addr, handler: gate.wrap(mux)}}
	// Metrics name clients and count their tokens, and pprof exposes the
	// process: neither is ever on the public listener.
	if c.HTTP.AdminAddr != "" {
		servers = append(servers, &listener{name: "http.admin_addr", addr: c.HTTP.AdminAddr, handler: adminMux(srv.MetricsHandler())})
	} else {
		a.log.Info(metricsNote(c.HTTP))
	}
	for i, l := range servers {
		if err := l.listen(c.HTTP); err != nil {
			for _, opened := range servers[:i] {
				opened.ln.Close()
			}
			return nil, err
		}
		a.log.Info("serving", "listener", l.name, "addr", l.ln.Addr().String(), "issuer", c.Issuer, "store", c.Store.Driver)
	}
	return servers, nil
}

// listener is one HTTP server of the process.
type listener struct {
	name, addr string
	handler    http.Handler
	ln         net.Listener
	srv        *http.Server
}

func (l *listener) listen(c config.HTTP) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", l.name, err)
	}
	l.ln = ln
	l.srv = &http.Server{
		Handler:           l.handler,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
	}
	return nil
}

// adminMux serves metrics and pprof on the admin listener, which should
// not be reachable from outside.
func adminMux(metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
