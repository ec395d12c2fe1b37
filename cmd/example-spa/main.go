// Command example-spa serves a single-page app that signs users in to
// authserver with the authorization code flow and PKCE (through the
// oauth4webapi library, vendored in static/vendor), keeps its tokens in
// memory, refreshes them and calls cmd/example-api.
//
// Usage:
//
//	example-spa [-issuer URL] [-client-id ID] [-api URL] [-scope SCOPE] [-addr HOST:PORT]
//
// Each flag defaults to an environment variable (EXAMPLE_SPA_ISSUER,
// EXAMPLE_SPA_CLIENT_ID, EXAMPLE_SPA_API, EXAMPLE_SPA_SCOPE,
// EXAMPLE_SPA_ADDR) and then to http://127.0.0.1:8080, web-spa,
// http://127.0.0.1:9000/, "profile orders:read" and localhost:3000. The
// client must list http://localhost:3000/ (the app's origin and a slash)
// in its redirect_uris and http://localhost:3000 in its allowed_origins.
// See docs/browser-and-mobile-apps.md.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

//go:embed static
var static embed.FS

// config is the command's configuration; issuer, client id, API and scope
// are handed to the page as /config.json.
type config struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	API      string `json:"api"`
	Scope    string `json:"scope"`
	addr     string
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "example-spa: "+err.Error())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "example-spa: "+err.Error())
		os.Exit(1)
	}
	log.Info("serving", "url", "http://"+ln.Addr().String()+"/", "issuer", cfg.Issuer, "client_id", cfg.ClientID)
	// Timeouts as every server of ours has them: a static page and a
	// small JSON document need little time, and slow or idle clients
	// cannot hold connections.
	srv := &http.Server{Handler: newHandler(cfg), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 15 * time.Second, IdleTimeout: 60 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "example-spa: "+err.Error())
		os.Exit(1)
	}
}

// parseConfig reads the flags in args, whose defaults come from the
// environment through getenv and then from the built-in defaults.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	fs := flag.NewFlagSet("example-spa", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Issuer, "issuer", env("EXAMPLE_SPA_ISSUER", "http://127.0.0.1:8080"), "authserver's issuer URL (env EXAMPLE_SPA_ISSUER)")
	fs.StringVar(&c.ClientID, "client-id", env("EXAMPLE_SPA_CLIENT_ID", "web-spa"), "the app's client_id (env EXAMPLE_SPA_CLIENT_ID)")
	fs.StringVar(&c.API, "api", env("EXAMPLE_SPA_API", "http://127.0.0.1:9000/"), "example-api's base URL (env EXAMPLE_SPA_API)")
	fs.StringVar(&c.Scope, "scope", env("EXAMPLE_SPA_SCOPE", "profile orders:read"), "scope to ask for (env EXAMPLE_SPA_SCOPE)")
	fs.StringVar(&c.addr, "addr", env("EXAMPLE_SPA_ADDR", "localhost:3000"), "listen address (env EXAMPLE_SPA_ADDR)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.Issuer == "" || c.ClientID == "" || c.API == "" || c.addr == "" {
		return config{}, errors.New("issuer, client-id, api and addr must not be empty")
	}
	return c, nil
}

// newHandler serves the app's files and its configuration. The page may
// talk only to itself, the issuer and the API, and may not be framed.
func newHandler(c config) http.Handler {
	files, _ := fs.Sub(static, "static")
	body, _ := json.Marshal(c)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	})
	mux.Handle("GET /", http.FileServerFS(files))
	csp := fmt.Sprintf("default-src 'self'; connect-src 'self' %s %s; frame-ancestors 'none'; base-uri 'none'", origin(c.Issuer), origin(c.API))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}
