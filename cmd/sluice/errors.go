package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/sluicedb/sluice/wire"
)

// errHelpShown is returned by a command that printed its usage on -h: the
// invocation succeeded.
var errHelpShown = errors.New("sluice: help shown")

// usageError is a command line that does not say what to do: exit code 2.
type usageError struct {
	cmd string // "stream create", "" for the top level
	msg string
}

func (e *usageError) Error() string {
	hint := "sluice help"
	if e.cmd != "" {
		hint = "sluice " + e.cmd + " -h"
	}
	return fmt.Sprintf("%s\nrun '%s' for usage", e.msg, hint)
}

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// codedError is an error that exits with its own status.
type codedError struct {
	err  error
	code int
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// dialError is a failure to connect to the server.
type dialError struct {
	addr   string
	err    error
	keyID  string           // the access key offered, if any
	source credentialSource // where it came from
}

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// describeError is the one line (or two, for usage) a user sees for err:
// the server's errors as "ExceptionName: message", connection failures with
// the address tried and what to do about them.
func describeError(err error, addr string, timeout time.Duration) string {
	var d *dialError
	if errors.As(err, &d) {
		return describeDialError(d)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("the server at %s did not answer within %v (raise --timeout, or check that the server is healthy): %v", addr, timeout, err)
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, wire.ErrConnectionLost):
		return fmt.Sprintf("lost the connection to the server at %s: %v", addr, lostCause(err))
	}
	var w *wire.Error
	if errors.As(err, &w) && w.Name == wire.NameAccessDenied {
		return fmt.Sprintf("%v\n(the access key's policy in the server's users file, or the stream's resource policy, must allow the action; use another access key with --access-key, or ask the server's administrator for a grant)", w)
	}
	return err.Error()
}

// describeAuthError words a refused authentication, or "" for another
// error.
func describeAuthError(d *dialError) string {
	var w *wire.Error
	switch {
	case errors.Is(d.err, wire.ErrAuthRequired):
		return fmt.Sprintf("the server at %s requires authentication: give an access key with --access-key and --secret-key, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials (AWS_PROFILE picks one)", d.addr)
	case errors.Is(d.err, wire.ErrServerAuth):
		return fmt.Sprintf("the server at %s could not prove that it knows the secret of access key %s (from %s): it may not be the server you meant (check --addr), or its users file gives the key another secret", d.addr, d.keyID, d.source)
	case !errors.As(d.err, &w):
		return ""
	case w.Name == wire.NameUnrecognizedClient:
		return fmt.Sprintf("the server at %s does not know access key %s (from %s): %v\ncheck the key, or ask the server's administrator to add a user for it (sluice auth add-user)", d.addr, d.keyID, d.source, w)
	case w.Name == wire.NameInvalidSignature:
		return fmt.Sprintf("the secret key (from %s) is not the secret of access key %s on the server at %s: %v", d.source, d.keyID, d.addr, w)
	case w.Name == wire.NameMissingAuth:
		return fmt.Sprintf("the server at %s requires authentication: %v", d.addr, w)
	}
	return ""
}

func describeDialError(d *dialError) string {
	if msg := describeAuthError(d); msg != "" {
		return msg
	}
	switch {
	case errors.Is(d.err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot connect to a sluice server at %s: connection refused; is sluiced running? Start one with `make run`, or point --addr at yours", d.addr)
	case errors.Is(d.err, context.DeadlineExceeded) || isTimeout(d.err):
		return fmt.Sprintf("no answer from %s while connecting; is it a sluice server's binary protocol address (sluiced --listen)? Point --addr at it, or raise --timeout", d.addr)
	case errors.Is(d.err, wire.ErrHandshake):
		return fmt.Sprintf("%s does not speak sluice's binary protocol (is it the server's --http port? sluice talks to sluiced's --listen address, default %s): %v", d.addr, defaultAddr, d.err)
	case errors.Is(d.err, context.Canceled):
		return "interrupted"
	}
	var dnsErr *net.DNSError
	if errors.As(d.err, &dnsErr) {
		return fmt.Sprintf("cannot connect to %s: %v; check --addr (HOST:PORT)", d.addr, dnsErr)
	}
	var addrErr *net.AddrError
	if errors.As(d.err, &addrErr) {
		return fmt.Sprintf("--addr %q is not a HOST:PORT address: %v", d.addr, addrErr)
	}
	var w *wire.Error
	if errors.As(d.err, &w) {
		return w.Error()
	}
	return fmt.Sprintf("cannot connect to a sluice server at %s: %v", d.addr, d.err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lostCause strips the client's prefix from a lost connection's error.
func lostCause(err error) string {
	var w *wire.Error
	if errors.As(err, &w) {
		return w.Error() // the server's GoAway: "shutting down" and the like
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if u := errors.Unwrap(e); u != nil && !errors.Is(u, wire.ErrConnectionLost) {
			return u.Error()
		}
	}
	return err.Error()
}
