package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

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
