package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/config"
)

// p12PasswordEnv is read when --password-file is not given.
const p12PasswordEnv = config.EnvP12Password

// p12Flags are the flags of `certs export --p12`.
type p12Flags struct {
	file, passwordFile, serial string
	legacy, force              bool
}

func (f *p12Flags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.file, "p12", "", "write certificate, private key and chain as a password-protected PKCS#12 file (mode 0600) instead of printing PEM")
	fl.StringVar(&f.passwordFile, "password-file", "", "read the PKCS#12 password from the first line of this file (else $"+p12PasswordEnv+", else a prompt on the terminal)")
	fl.BoolVar(&f.legacy, "legacy", false, "with --p12: 3DES/SHA-1 encryption for old clients (gpgsm 2.2, Windows before 10 1709) instead of AES-256")
	fl.BoolVar(&f.force, "force", false, "with --p12: overwrite an existing file")
	fl.StringVar(&f.serial, "serial", "", "with --p12: export the certificate with this serial (hex; see `certs show`) instead of the current one, to read mail encrypted to an older key")
}

// check refuses p12-only flags without --p12.
func (f *p12Flags) check() error {
	if f.file == "" && (f.passwordFile != "" || f.legacy || f.force || f.serial != "") {
		return &exitError{code: 2, err: errors.New("--password-file, --legacy, --force and --serial go with --p12 FILE")}
	}
	return nil
}

// exportP12 writes the PKCS#12 file for email.
func exportP12(ctx context.Context, cmd *cobra.Command, m *certs.Manager, email string, f *p12Flags) error {
	if !f.force {
		if _, err := os.Lstat(f.file); err == nil {
			return &exitError{code: 2, err: fmt.Errorf("%s exists: give --force to overwrite it", f.file)}
		}
	}
	password, err := p12Password(f.passwordFile, os.Getenv(p12PasswordEnv), os.Stdin, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	form := certs.P12Modern
	if f.legacy {
		form = certs.P12Legacy
	}
	der, cert, err := m.ExportPKCS12(ctx, email, f.serial, password, form)
	if errors.Is(err, certs.ErrNotFound) && f.serial == "" {
		return fmt.Errorf("no certificate for %s (one is issued with its first outbound mail, or by `mailseal certs issue`)", email)
	}
	if err != nil {
		return err
	}
	if err := writePrivateFile(f.file, der, f.force); err != nil {
		return err
	}
	kind := "AES-256"
	if f.legacy {
		kind = "legacy 3DES"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s PKCS#12): %s serial %s valid until %s\n", f.file, kind, email,
		cert.SerialNumber.Text(16), cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// p12Password takes the password from file, else env, else asks on the
// terminal (twice, without echo). Without a terminal it refuses rather than
// read a password from a pipe that may hold something else.
func p12Password(file, env string, stdin *os.File, prompt io.Writer) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", &exitError{code: 2, err: fmt.Errorf("--password-file: %w", err)}
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		pw := string(bytes.TrimSuffix(line, []byte("\r")))
		if pw == "" {
			return "", &exitError{code: 2, err: fmt.Errorf("--password-file %s: the first line is empty", file)}
		}
		return pw, nil
	}
	if env != "" {
		return env, nil
	}
	fd := int(stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", &exitError{code: 2, err: fmt.Errorf("no password for the PKCS#12 file: give --password-file FILE or set %s (standard input is not a terminal to ask on)", p12PasswordEnv)}
	}
	for {
		fmt.Fprint(prompt, "Password for the PKCS#12 file: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if len(a) == 0 {
			fmt.Fprintln(prompt, "The password must not be empty.")
			continue
		}
		fmt.Fprint(prompt, "Repeat the password: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if bytes.Equal(a, b) {
			return string(a), nil
		}
		fmt.Fprintln(prompt, "The passwords differ; try again.")
	}
}

// writePrivateFile writes data to path with mode 0600. Without overwrite it
// fails when path exists (O_EXCL: no race with another writer); with it,
// a temporary file in the same directory is renamed over path, so a
// reader never sees half a file and an old file's wider mode is not kept.
func writePrivateFile(path string, data []byte, overwrite bool) error {
	if !overwrite {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return &exitError{code: 2, err: fmt.Errorf("%s exists: give --force to overwrite it", path)}
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			os.Remove(path)
			return err
		}
		return f.Close()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mailseal-p12-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
