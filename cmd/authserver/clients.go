package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oauthkit/authserver/authserver/clientsecret"
)

func commandClients() *cobra.Command {
	cmd := groupCommand("clients", "Make client secrets and their hashes for the configuration")
	cmd.AddCommand(&cobra.Command{
		Use:   "new-secret",
		Short: "Print a fresh random client secret and, on the next line, its hash for the config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, hash, err := clientsecret.New()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			fmt.Fprintln(cmd.OutOrStdout(), hash)
			return nil
		},
	}, &cobra.Command{
		Use:   "hash-secret",
		Short: "Read a client secret on stdin and print the hash to put in the config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, err := readLine(cmd)
			if err != nil {
				return err
			}
			hash, err := clientsecret.Hash(secret)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), hash)
			return nil
		},
	})
	return cmd
}

// readLine reads one line from the command's stdin, without its line end.
func readLine(cmd *cobra.Command) (string, error) {
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read stdin: nothing to read")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
