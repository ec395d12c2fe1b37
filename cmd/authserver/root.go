package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/oauthkit/authserver/keys"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type rootFlags struct {
	config string
}

func commandRoot() *cobra.Command {
	var flags rootFlags
	root := groupCommand("authserver", "OAuth2 token service: RS256 access tokens, rotating refresh tokens, JWKS")
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.PersistentFlags().StringVar(&flags.config, "config", "", "configuration file (YAML); AUTHSERVER_* environment variables override it")
	root.AddCommand(
		commandServe(&flags),
		commandUsers(&flags),
		commandKeys(&flags),
		commandSessions(&flags),
		commandConfig(&flags),
		commandHealthcheck(&flags),
		commandClients(),
		commandVersion(),
	)
	return root
}

func commandVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "authserver "+version)
			signers := keys.SignerGo
			if v := keys.OpenSSLVersion(); v != "" {
				signers += ", " + keys.SignerOpenSSL + " (" + v + ")"
			}
			fmt.Fprintln(out, "signers: "+signers)
			return nil
		},
	}
}
