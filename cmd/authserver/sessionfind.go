package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/store"
)

// commandSessionsFind is `authserver sessions find --token -`: the first
// step of the stolen-refresh-token runbook. The token is read from stdin
// only, never from an argument, so that it stays out of shell history and
// the process list.
func commandSessionsFind(flags *rootFlags) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "find --token -",
		Short: "Find the session (refresh-token family) of a refresh token read on stdin",
		Long: `Read a refresh token on stdin, check that this deployment issued it, and print
its session: family id, user, client, login time, last use, and whether the
token is the session's current one. Revoke the session with
authserver sessions revoke --family ID.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from != "-" {
				return fmt.Errorf("--token takes - (the token on stdin), so that the token never appears in a command line")
			}
			token, err := readToken(cmd.InOrStdin())
			if err != nil {
				return err
			}
			a, err := openApp(flags, false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer a.store.Close()
			current, previous, err := a.refreshKeys()
			if err != nil {
				return err
			}
			info, err := authserver.InspectRefreshToken(token, current, previous...)
			if err != nil {
				return err
			}
			f, err := a.store.GetFamily(cmd.Context(), info.FamilyID, time.Now())
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("session %s: no live session (revoked, expired or logged out): nothing to revoke", info.FamilyID)
			}
			if err != nil {
				return err
			}
			status := "current"
			if info.Generation < f.Generation {
				status = fmt.Sprintf("rotated (session is at generation %d): presenting it again revokes the session", f.Generation)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FAMILY\tUSER ID\tCLIENT\tCREATED\tLAST USED\tTOKEN")
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.UserID, f.ClientID, stamp(f.Created), stamp(f.LastUsed), status)
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "revoke it with: authserver sessions revoke --family %s\n", f.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "token", "", "- : read the refresh token on stdin")
	cmd.MarkFlagRequired("token")
	return cmd
}

// readToken reads one token from r: the first non-empty line, trimmed.
func readToken(r io.Reader) (string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 64<<10))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			return line, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	return "", errors.New("read token: stdin is empty")
}
