// Command example-api is a minimal resource server that accepts the access
// tokens of authserver, checked locally with the verify package: it
// discovers the issuer's JWKS at start, then verifies each request's
// bearer token without calling authserver.
//
// Routes:
//
//	GET /orders   requires a token for the audience with scope orders:read;
//	              answers {"subject":…,"client_id":…,"scopes":[…]}
//	GET /healthz  liveness, no token
//
// Usage:
//
//	example-api [-issuer URL] [-audience AUD] [-addr HOST:PORT] [-allow-origins LIST]
//
// -allow-origins lists, comma-separated, the origins of browser apps that
// may call the API (CORS), such as cmd/example-spa's.
//
// Each flag defaults to an environment variable (EXAMPLE_API_ISSUER,
// EXAMPLE_API_AUDIENCE, EXAMPLE_API_ADDR, EXAMPLE_API_ALLOW_ORIGINS) and then to
// http://127.0.0.1:8080, api and 127.0.0.1:9000: the issuer and audience
// of `authserver serve --dev`. SIGINT or SIGTERM shuts the server down
// gracefully. See docs/verifying-tokens.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/oauthkit/authserver/verify"
)

// Defaults: those of `authserver serve --dev`.
const (
	defaultIssuer   = "http://127.0.0.1:8080"
	defaultAudience = "api"
	defaultAddr     = "127.0.0.1:9000"
)

// Server timeouts: generous for an API answering from memory, short enough
// that slow or idle clients cannot hold connections for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 10 * time.Second
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "example-api: "+err.Error())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, cfg, log); err != nil {
		fmt.Fprintln(os.Stderr, "example-api: "+err.Error())
		os.Exit(1)
	}
}

// config is the command's configuration.
type config struct {
	issuer   string // exact iss of the tokens, and where discovery starts
	audience string // this API's audience: the tokens' aud must contain it
	addr     string // listen address
	origins  []string
}

// parseConfig reads the flags in args, whose defaults come from the
// environment through getenv and then from the built-in defaults. Usage
// and flag errors go to out.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	fs := flag.NewFlagSet("example-api", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.issuer, "issuer", env("EXAMPLE_API_ISSUER", defaultIssuer), "authserver's issuer URL (env EXAMPLE_API_ISSUER)")
	fs.StringVar(&c.audience, "audience", env("EXAMPLE_API_AUDIENCE", defaultAudience), "audience of this API (env EXAMPLE_API_AUDIENCE)")
	fs.StringVar(&c.addr, "addr", env("EXAMPLE_API_ADDR", defaultAddr), "listen address (env EXAMPLE_API_ADDR)")
	origins := fs.String("allow-origins", env("EXAMPLE_API_ALLOW_ORIGINS", ""), "comma-separated origins of browser apps allowed to call (env EXAMPLE_API_ALLOW_ORIGINS)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	for o := range strings.SplitSeq(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.origins = append(c.origins, o)
		}
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.issuer == "" || c.audience == "" || c.addr == "" {
		return config{}, errors.New("issuer, audience and addr must not be empty")
	}
	return c, nil
}

// run discovers the issuer's keys and serves the API on cfg.addr until ctx
// is done.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	v, err := verify.New(ctx, cfg.issuer, verify.WithAudience(cfg.audience), verify.WithLogger(log))
	if err != nil {
		return fmt.Errorf("set up token verification (is authserver running at %s?): %w", cfg.issuer, err)
	}
	defer v.Close()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "issuer", cfg.issuer, "audience", cfg.audience, "jwks_uri", v.JWKSURL())
	return serve(ctx, ln, withCORS(newHandler(v), cfg.origins), log)
}

// serve serves h on ln until ctx is done, then shuts down gracefully:
// requests in flight get up to shutdownTimeout to finish.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
