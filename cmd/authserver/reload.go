package main

import (
	"context"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/config"
)

// hangups returns a channel that receives SIGHUP, and the function that
// stops the delivery. It is called before the server listens, so that a
// SIGHUP never meets the default action (which ends the process).
func hangups() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

// reloadClients re-reads the configuration on every value of hup until
// ctx is done, and installs its clients list in srv. Only the clients are
// applied: every other key needs a restart, and a reload that changes
// them says so. A configuration that fails to load or validate, or whose
// clients the server refuses, is refused as a whole and the running
// clients stay.
func reloadClients(ctx context.Context, hup <-chan os.Signal, flags *rootFlags, dev bool, a *app, srv *authserver.Server) {
	running := a.cfg
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := loadConfig(flags, dev)
		if err != nil {
			a.log.Error("configuration reload refused: the running clients stay", "event", "config_reload_refused", "err", err)
			continue
		}
		if dev {
			cfg.Clients = withDemoClient(cfg.Clients)
		}
		if err := srv.SetClients(clientsFromConfig(cfg.Clients)); err != nil {
			a.log.Error("configuration reload refused: the running clients stay", "event", "config_reload_refused", "err", err)
			continue
		}
		changed := config.ChangedKeys(running, cfg)
		running.Clients = cfg.Clients
		a.log.Info("configuration reloaded: clients replaced", "event", "config_reloaded", "clients", len(cfg.Clients))
		if pending := slices.DeleteFunc(changed, func(k string) bool { return k == "clients" }); len(pending) > 0 {
			a.log.Warn("configuration reload applies the clients only: restart to apply the other changed keys", "keys", pending)
		}
	}
}
