package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/term"

	"github.com/example/authsvc/store"
)

// maxLineBytes bounds what is read from stdin for one password or secret.
const maxLineBytes = 4096

// newPassword reads a new password (see readPassword) for svc to hash.
func (c *cli) newPassword(ctx context.Context, svc backend) (string, error) {
	if svc.WeakBcryptCost() {
		fmt.Fprintf(c.stderr, "authctl: WARNING: bcrypt cost %d is below %d: such hashes are cheap to crack; use only for tests\n",
			c.bcryptCost, store.MinBcryptCost)
	}
	return c.readPassword(ctx)
}

// readPassword prompts twice without echo when stdin is a terminal, and
// otherwise reads the first line of stdin.
func (c *cli) readPassword(ctx context.Context) (string, error) {
	fd, ok := c.terminal()
	if !ok {
		password, err := readLine(c.stdin)
		if err != nil {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		return password, nil
	}
	first, err := promptNoEcho(ctx, fd, "Password: ", c.stderr)
	if err != nil {
		return "", err
	}
	second, err := promptNoEcho(ctx, fd, "Repeat password: ", c.stderr)
	if err != nil {
		return "", err
	}
	if first != second {
		return "", errors.New("passwords do not match")
	}
	return first, nil
}

// readSecret reads a client secret like readPassword, asking only once: a
// typing mistake shows at the first use of the secret.
func (c *cli) readSecret(ctx context.Context) (string, error) {
	if fd, ok := c.terminal(); ok {
		return promptNoEcho(ctx, fd, "Client secret: ", c.stderr)
	}
	secret, err := readLine(c.stdin)
	if err != nil {
		return "", fmt.Errorf("read client secret from stdin: %w", err)
	}
	return secret, nil
}

// terminal returns stdin's file descriptor if stdin is a terminal.
func (c *cli) terminal() (int, bool) {
	f, ok := c.stdin.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// promptNoEcho reads a line from the terminal fd with echo off. On
// cancellation (Ctrl-C) it restores the terminal before returning, which
// term.ReadPassword cannot do while it blocks.
func promptNoEcho(ctx context.Context, fd int, prompt string, stderr io.Writer) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	fmt.Fprint(stderr, prompt)
	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := term.ReadPassword(fd)
		done <- result{line, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(stderr)
		if r.err != nil {
			return "", fmt.Errorf("read password: %w", r.err)
		}
		return string(r.line), nil
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		fmt.Fprintln(stderr)
		return "", ctx.Err()
	}
}

// readLine returns the first line of r without its line ending (LF or
// CRLF), possibly empty: callers validate. Nothing else is trimmed: spaces
// may belong to a password.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxLineBytes+1)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if !strings.HasSuffix(line, "\n") && len(line) > maxLineBytes {
		return "", fmt.Errorf("first line longer than %d bytes", maxLineBytes)
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}
