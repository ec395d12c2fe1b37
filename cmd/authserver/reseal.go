package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oauthkit/authserver/config"
	"github.com/oauthkit/authserver/keys"
)

// commandReseal is `authserver keys reseal`: the step of a key-encryption
// key rotation that moves every stored record to the current key and
// says what still depends on the previous ones.
func commandReseal(flags *rootFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "reseal",
		Short: "Seal every signing key with keys.encryption_key and report what still needs keys.previous_encryption_keys",
		Long: `Seal every stored signing key again with keys.encryption_key (the keys
themselves, the JWKS and every token stay as they are), then report, for
each key of keys.previous_encryption_keys, whether a stored record still
needs it and until when refresh tokens issued under it may be presented.
A server does the same on start; running it is safe at any time.`,
		Args: cobra.NoArgs,
		RunE: withKeys(flags, func(cmd *cobra.Command, m *keys.Manager, _ []string) error {
			rep, err := m.Reseal(cmd.Context())
			if err != nil {
				return err
			}
			a, err := loadConfig(flags, false)
			if err != nil {
				return err
			}
			return writeResealReport(cmd, rep, a.Tokens)
		}),
	}
}

func writeResealReport(cmd *cobra.Command, rep keys.ResealReport, tokens config.Tokens) error {
	out := cmd.OutOrStdout()
	total := 0
	for _, n := range rep.SealedBy {
		total += n
	}
	fmt.Fprintf(out, "current encryption key %s: resealed %d, %d of %d signing key(s) sealed with it\n",
		rep.Current, rep.Resealed, rep.SealedBy[rep.Current], total)
	if others := slices.DeleteFunc(slices.Sorted(maps.Keys(rep.SealedBy)), func(id string) bool { return id == rep.Current }); len(others) > 0 {
		return fmt.Errorf("signing keys are still sealed with %s (another writer stored them meanwhile): run keys reseal again", strings.Join(others, ", "))
	}
	idle := formatTTL(tokens.RefreshIdleTTL)
	for _, id := range rep.Previous {
		fmt.Fprintf(out, "previous encryption key %s: no sealed record needs it; refresh tokens issued under it work until their next refresh, "+
			"and sessions unused for tokens.refresh_idle_ttl (%s) have expired: remove it %s after every replica switched to %s, "+
			"or now, logging out the sessions not refreshed since\n", id, idle, idle, rep.Current)
	}
	if len(rep.Previous) == 0 {
		fmt.Fprintln(out, "no previous encryption keys configured")
	}
	return nil
}

func formatTTL(d fmt.Stringer) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}
