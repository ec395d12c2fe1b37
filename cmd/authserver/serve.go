package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/clientsecret"
	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/config"
)

func commandServe(flags *rootFlags) *cobra.Command {
	var dev bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the token service",
		Long: `Run the token service. The first signing key is created if the store has none.
--dev (or no --config at all) uses the embedded store under ./data and seeds a
demo client and a demo user, printing their credentials and a curl command.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, flags, dev || flags.config == "", cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&dev, "dev", false, "embedded store under ./data, demo client and user")
	return cmd
}

func serve(ctx context.Context, flags *rootFlags, dev bool, out, logOut io.Writer) error {
	a, err := openApp(flags, dev, logOut)
	if err != nil {
		return err
	}
	defer a.store.Close()
	if dev {
		a.cfg.Clients = withDemoClient(a.cfg.Clients)
	}
	km, err := a.keyManager(a.log, a.cfg.Keys.Signer)
	if err != nil {
		return err
	}
	if err := km.Init(ctx); err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	go km.Run(ctx)
	hasher, err := a.hasher()
	if err != nil {
		return err
	}
	refreshKey, err := authserver.DeriveRefreshKey(a.kek)
	if err != nil {
		return err
	}
	c := a.cfg
	proxies, err := config.ParsePrefixes(c.HTTP.TrustedProxies)
	if err != nil {
		return err
	}
	srv, err := authserver.New(authserver.Options{
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
		Logger:         a.log,
	})
	if err != nil {
		return err
	}
	if dev {
		if err := seedDemo(ctx, a, srv.Users(), out); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	servers := []*listener{{name: "http.addr", addr: c.HTTP.Addr, handler: mux}}
	// Metrics name clients and count their tokens, and pprof exposes the
	// process: neither is ever on the public listener.
	if c.HTTP.AdminAddr != "" {
		servers = append(servers, &listener{name: "http.admin_addr", addr: c.HTTP.AdminAddr, handler: adminMux(srv.MetricsHandler())})
	} else {
		a.log.Info(metricsNote(c.HTTP))
	}
	errc := make(chan error, len(servers))
	for _, l := range servers {
		if err := l.listen(c.HTTP); err != nil {
			return err
		}
		a.log.Info("serving", "listener", l.name, "addr", l.ln.Addr().String(), "issuer", c.Issuer, "store", c.Store.Driver)
		go func() { errc <- l.srv.Serve(l.ln) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.HTTP.ShutdownTimeout)
	defer cancel()
	for _, l := range servers {
		if err := l.srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("shut down %s: %w", l.name, err)
		}
	}
	return nil
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

const (
	demoClientID = "demo-app"
	demoUser     = "demo"
)

func withDemoClient(cs []config.Client) []config.Client {
	for _, c := range cs {
		if c.ID == demoClientID {
			return cs
		}
	}
	return append(cs, config.Client{
		ID: demoClientID, Public: true,
		Grants: []string{authserver.GrantPassword, authserver.GrantRefreshToken},
		Scopes: []string{"profile", "orders:read"},
	})
}

// seedDemo makes sure the demo user exists with the password kept in the
// data directory (0600), and prints the credentials and a curl command.
func seedDemo(ctx context.Context, a *app, users *authserver.Users, out io.Writer) error {
	pwFile := filepath.Join(filepath.Dir(a.cfg.Store.Embedded.Path), "demo-password")
	pw, err := os.ReadFile(pwFile)
	fresh := err != nil
	if fresh {
		secret, _, err := clientsecret.New()
		if err != nil {
			return err
		}
		pw = []byte(secret[:20])
		if err := os.WriteFile(pwFile, pw, 0o600); err != nil {
			return fmt.Errorf("write demo password: %w", err)
		}
	}
	_, err = users.Add(ctx, demoUser, string(pw), map[string]string{"name": "Demo User"})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		if fresh {
			if _, err := users.SetPassword(ctx, demoUser, string(pw)); err != nil {
				return err
			}
		}
	case err != nil:
		return fmt.Errorf("seed demo user: %w", err)
	}
	base := strings.TrimSuffix(a.cfg.Issuer, "/")
	fmt.Fprintf(out, `
Development mode: embedded store at %s
  demo client: %s (public; grants password, refresh_token)
  demo user:   %s / %s

Get a token:
  curl -s %s/oauth2/token -d grant_type=password -d client_id=%s -d username=%s -d password=%s

Public keys: %s/.well-known/jwks.json

`, a.cfg.Store.Embedded.Path, demoClientID, demoUser, pw, base, demoClientID, demoUser, pw, base)
	return nil
}
