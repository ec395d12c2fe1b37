package main

import (
	"github.com/spf13/cobra"
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
			return cfg.Redacted().WriteYAML(cmd.OutOrStdout())
		},
	})
	return cmd
}
