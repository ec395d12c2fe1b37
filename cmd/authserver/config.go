package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oauthkit/authserver/authserver/clientsecret"
	"github.com/oauthkit/authserver/config"
)

func commandConfig(flags *rootFlags) *cobra.Command {
	cmd := groupCommand("config", "Inspect the configuration")
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate and print the effective configuration, secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(flags, false)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if err := cfg.Redacted().WriteYAML(out); err != nil {
				return err
			}
			// Comments, so that the output stays a loadable file.
			fmt.Fprintln(out, "# secrets (values never printed):")
			for _, s := range cfg.SecretSources(os.Environ()) {
				fmt.Fprintf(out, "#   %s: %s\n", s.Key, s.From)
			}
			writeSecretIDs(out, cfg.Clients)
			fmt.Fprintln(cmd.ErrOrStderr(), metricsNote(cfg.HTTP))
			return nil
		},
	})
	return cmd
}

// metricsNote says where /metrics and pprof are served: on the admin
// listener only, or, without one, nowhere.
func metricsNote(h config.HTTP) string {
	if h.AdminAddr == "" {
		return "metrics: not served (http.admin_addr is empty)"
	}
	return "metrics: /metrics and /debug/pprof/ on http.admin_addr " + h.AdminAddr
}

// writeSecretIDs lists, as comments, the id of each live secret of each
// confidential client: the "secret" label of
// authserver_client_secret_used_total and of the client_secret_used audit
// event.
func writeSecretIDs(w io.Writer, clients []config.Client) {
	header := false
	for _, c := range clients {
		hashes := c.SecretHashList()
		if len(hashes) == 0 {
			continue
		}
		if !header {
			fmt.Fprintln(w, "# client secret ids (label \"secret\" of authserver_client_secret_used_total):")
			header = true
		}
		ids := make([]string, len(hashes))
		for i, h := range hashes {
			ids[i] = clientsecret.ID(h)
		}
		fmt.Fprintf(w, "#   %s: %s\n", c.ID, strings.Join(ids, ", "))
	}
}
