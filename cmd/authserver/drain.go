package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// readiness turns /readyz to 503 for the drain, before the server stops
// accepting connections, so that load balancers and Kubernetes endpoints
// stop sending first.
type readiness struct {
	draining atomic.Bool
}

// wrap answers /readyz with 503 while draining and closes each connection
// after its response then, so that no idle keep-alive connection is left
// for the final close to race with.
func (g *readiness) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.draining.Load() {
			w.Header().Set("Connection", "close")
			if r.URL.Path == "/readyz" {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte("draining\n"))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// run serves on every listener until ctx is done (SIGTERM, SIGINT), then
// drains: /readyz 503 at once, serve on for http.shutdown_delay, stop
// accepting and wait at most http.shutdown_timeout for requests in flight.
func run(ctx context.Context, a *app, ls []*listener, gate *readiness) error {
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- l.srv.Serve(l.ln) }()
	}
	select {
	case err := <-errc:
		shutdown(context.Background(), ls)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	h := a.cfg.HTTP
	gate.draining.Store(true)
	a.log.Info("draining: /readyz answers 503", "shutdown_delay", h.ShutdownDelay.String(), "shutdown_timeout", h.ShutdownTimeout.String())
	delay := time.NewTimer(h.ShutdownDelay)
	defer delay.Stop()
	select {
	case <-delay.C:
	case err := <-errc:
		shutdown(context.Background(), ls)
		return fmt.Errorf("serve: %w", err)
	}
	a.log.Info("shutting down: no new connections")
	sctx, cancel := context.WithTimeout(context.Background(), h.ShutdownTimeout)
	defer cancel()
	if err := shutdown(sctx, ls); err != nil {
		return err
	}
	a.log.Info("shut down")
	return nil
}

// shutdown closes every listener at once and waits for its requests in
// flight until ctx is done.
func shutdown(ctx context.Context, ls []*listener) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ls))
	for i, l := range ls {
		wg.Go(func() {
			if err := l.srv.Shutdown(ctx); err != nil {
				errs[i] = fmt.Errorf("shut down %s: %w", l.name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
