package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/oauthkit/authserver/keys"
)

func commandKeys(flags *rootFlags) *cobra.Command {
	cmd := groupCommand("keys", "Inspect and manage signing keys")
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List every key: kid, algorithm, state, created, activates, retires",
		Args:  cobra.NoArgs,
		RunE: withKeys(flags, func(cmd *cobra.Command, m *keys.Manager, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATES\tRETIRES")
			for _, k := range m.Keys() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.State, stampOrDash(k.Created), stampOrDash(k.Activates), stampOrDash(k.Retires))
			}
			return tw.Flush()
		}),
	})
	var now bool
	rotate := &cobra.Command{
		Use:   "rotate [--now]",
		Short: "Add a new key as next; it signs once published for keys.publish_ahead (--now: at once)",
		Args:  cobra.NoArgs,
		RunE: withKeys(flags, func(cmd *cobra.Command, m *keys.Manager, _ []string) error {
			k, err := m.Rotate(cmd.Context(), now)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.KID())
			return nil
		}),
	}
	rotate.Flags().BoolVar(&now, "now", false, "make the new key active at once (emergencies: verifiers with a cached JWKS fail until they refetch)")
	retire := takesDashArgs(&cobra.Command{
		Use:   "retire KID",
		Short: "Stop signing with a key; it stays published until its last token has expired",
		Args:  cobra.ExactArgs(1),
		RunE: withKeys(flags, func(cmd *cobra.Command, m *keys.Manager, args []string) error {
			return m.Retire(cmd.Context(), args[0])
		}),
	})
	revoke := takesDashArgs(&cobra.Command{
		Use:   "revoke KID",
		Short: "Remove a key from the JWKS at once (compromise); a successor signs if it was active",
		Args:  cobra.ExactArgs(1),
		RunE: withKeys(flags, func(cmd *cobra.Command, m *keys.Manager, args []string) error {
			return m.Revoke(cmd.Context(), args[0])
		}),
	})
	cmd.AddCommand(rotate, retire, revoke, commandReseal(flags))
	return cmd
}

// withKeys runs f with a key manager holding the stored key set.
func withKeys(flags *rootFlags, f func(*cobra.Command, *keys.Manager, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a, err := openApp(flags, false, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		defer a.store.Close()
		m, err := a.loadKeys(cmd.Context())
		if err != nil {
			return err
		}
		return f(cmd, m, args)
	}
}
