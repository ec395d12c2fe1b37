package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func commandConfig(flags *rootFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
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
			return nil
		},
	})
	return cmd
}
