package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func commandSessions(flags *rootFlags) *cobra.Command {
	cmd := groupCommand("sessions", "List or revoke refresh-token families (sessions)")
	var user, family string
	list := &cobra.Command{
		Use:   "list --user NAME",
		Short: "List a user's sessions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(flags, false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer a.store.Close()
			u, err := a.users()
			if err != nil {
				return err
			}
			fams, err := u.Sessions(cmd.Context(), user)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FAMILY\tCLIENT\tSCOPE\tCREATED\tLAST USED\tEXPIRES")
			for _, f := range fams {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.ClientID, strings.Join(f.Scope, " "),
					stamp(f.Created), stamp(f.LastUsed), stamp(f.Expiry()))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&user, "user", "", "user name")
	list.MarkFlagRequired("user")

	var ruser string
	revoke := &cobra.Command{
		Use:   "revoke (--user NAME | --family ID)",
		Short: "Revoke every session of a user (log out everywhere), or one family",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (ruser == "") == (family == "") {
				return fmt.Errorf("give exactly one of --user and --family")
			}
			a, err := openApp(flags, false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer a.store.Close()
			return revokeSessions(cmd, a, ruser, family)
		},
	}
	revoke.Flags().StringVar(&ruser, "user", "", "user name: revoke all of its sessions")
	revoke.Flags().StringVar(&family, "family", "", "family id: revoke this session only")
	cmd.AddCommand(list, revoke, commandSessionsFind(flags))
	return cmd
}

func revokeSessions(cmd *cobra.Command, a *app, user, family string) error {
	ctx := cmd.Context()
	u, err := a.users()
	if err != nil {
		return err
	}
	if family != "" {
		if err := u.RevokeFamily(ctx, family); err != nil {
			return err
		}
		a.log.Info("family revoked", "log", "audit", "event", "family_revoked", "family", family, "by", "cli")
		fmt.Fprintln(cmd.ErrOrStderr(), "session revoked")
		return nil
	}
	n, err := u.RevokeSessions(ctx, user)
	if err != nil {
		return err
	}
	a.log.Info("user sessions revoked", "log", "audit", "event", "user_sessions_revoked", "user", user, "count", n, "by", "cli")
	fmt.Fprintf(cmd.ErrOrStderr(), "%d session(s) revoked\n", n)
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func stampOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return stamp(t)
}
