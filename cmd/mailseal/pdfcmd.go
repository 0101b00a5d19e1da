package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/mailseal/mailseal/certs"
)

// `mailseal pdf …`: the per-recipient passwords of pdf.password_delivery: fixed.

func newPDFCommand(cfgPath func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "pdf", Short: "Store, remove and list fixed PDF passwords of recipients (pdf.password_delivery: fixed)"}
	set := &cobra.Command{
		Use:   "set-password ADDRESS",
		Short: "Store the password that opens every PDF sent to ADDRESS (read from standard input, at least 12 characters)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: forUser(cfgPath, func(ctx context.Context, cmd *cobra.Command, m *certs.Manager, addr string) error {
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), addr)
			if err != nil {
				return err
			}
			if len([]rune(pw)) < certs.MinPDFPasswordLen {
				return &exitError{code: 2, err: fmt.Errorf("the password needs at least %d characters", certs.MinPDFPasswordLen)}
			}
			if err := m.SetPDFPassword(ctx, addr, pw); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "PDF password stored for %s\n", addr)
			return nil
		}),
	}
	remove := &cobra.Command{
		Use:   "remove-password ADDRESS",
		Short: "Remove ADDRESS's fixed PDF password (its mail is then refused while delivery is fixed)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: forUser(cfgPath, func(ctx context.Context, cmd *cobra.Command, m *certs.Manager, addr string) error {
			ok, err := m.RemovePDFPassword(ctx, addr)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("no PDF password is stored for %s", addr)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "PDF password removed for %s\n", addr)
			return nil
		}),
	}
	list := &cobra.Command{
		Use:   "list-passwords",
		Short: "List the addresses that have a fixed PDF password (never the passwords)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCerts(cmd, cfgPath, func(ctx context.Context, m *certs.Manager) error {
				addrs, err := m.PDFPasswordAddresses(ctx)
				if err != nil {
					return err
				}
				for _, a := range addrs {
					fmt.Fprintln(cmd.OutOrStdout(), a)
				}
				return nil
			})
		},
	}
	cmd.AddCommand(set, remove, list)
	return cmd
}

// readPassword reads one line. On a terminal it prompts and turns echo
// off, so the password is not shown; from a pipe it reads the first line.
func readPassword(in io.Reader, prompt io.Writer, addr string) (string, error) {
	if f, ok := in.(*os.File); ok {
		if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			fmt.Fprintf(prompt, "PDF password for %s: ", addr)
			quiet := *t
			quiet.Lflag &^= unix.ECHO
			if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, &quiet); err == nil {
				defer func() {
					_ = unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
					fmt.Fprintln(prompt)
				}()
			}
		}
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", &exitError{code: 2, err: fmt.Errorf("no password on standard input")}
	}
	return strings.TrimRight(line, "\r\n"), nil
}
