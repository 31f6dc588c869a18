// Command sluice is the command-line client of a sluice server: it manages
// streams and shards, puts records and reads or tails them over the binary
// protocol (package wire), and measures a server (sluice bench, bench.go).
//
//	sluice [--addr HOST:PORT] [--timeout D] [--access-key ID --secret-key KEY] COMMAND [ARGS]
//
//	sluice stream create orders --shards 4
//	printf 'a\nb\n' | sluice put orders --key customer-42
//	sluice get orders --from trim-horizon --output json
//	sluice get orders --follow
//	sluice kms create --alias alias/orders
//	sluice stream encrypt orders --key alias/orders
//	sluice bench put --inproc --duration 10s
//
// Exit codes: 0 success, 1 an error (the server's error is printed with its
// Kinesis exception name), 2 a usage error.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sluicedb/sluice/bench/scenario"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/wire"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// defaultAddr is the server's default --listen address.
const defaultAddr = "127.0.0.1:4568"

// command is one entry of a command table: the top level's or `stream`'s.
type command struct {
	name     string
	synopsis string // the arguments after the command's name
	summary  string // one line for the command list
	run      func(ctx context.Context, a *app, args []string) error
}

// commands is the top-level command table. `help` is handled by run.
var commands = []*command{
	{name: "stream", synopsis: "SUBCOMMAND [ARGS]", summary: "create, list, describe, reshard, tag and delete streams", run: streamMain},
	{name: "put", synopsis: "STREAM [RECORD...]", summary: "put records given as arguments, or one per line of standard input", run: putMain},
	{name: "get", synopsis: "STREAM [flags]", summary: "read a stream's records, or follow them as they arrive (--follow)", run: getMain},
	{name: "auth", synopsis: "SUBCOMMAND [ARGS]", summary: "manage the users file of sluiced --auth (add-user)", run: authMain},
	{name: "bench", synopsis: "SCENARIO [flags]", summary: "measure a server: put, get, subscribe, mixed, limits, baseline", run: benchCommand},
	{name: "kms", synopsis: "SUBCOMMAND [ARGS]", summary: "manage the master keys of encryption at rest: create, list, rotate, disable", run: kmsMain},
	{name: "consume", synopsis: "STREAM --group NAME [flags]", summary: "print records as one member of a consumer group, checkpointing what was printed", run: consumeMain},
	{name: "group", synopsis: "SUBCOMMAND [ARGS]", summary: "list, describe, reset and delete a stream's consumer groups", run: groupMain},
	{name: "cluster", synopsis: "SUBCOMMAND [ARGS]", summary: "show a cluster's nodes and shards (status)", run: clusterMain},
	{name: "agent", synopsis: "--config FILE [flags]", summary: "tail log files into streams, like the Kinesis Agent (rotation, checkpoints, parsing)", run: agentMain},
}

// benchCommand runs `sluice bench` (bench.go), passing on a global --addr
// given before the command. Its usage errors exit with status 2.
func benchCommand(ctx context.Context, a *app, args []string) error {
	pre := a.tls.args()
	if a.addrSet {
		pre = append(pre, "--addr", a.addr)
	}
	if a.accessKey != "" || a.secretKey != "" {
		pre = append(pre, "--access-key", a.accessKey, "--secret-key", a.secretKey)
	}
	args = append(pre, args...)
	err := benchMain(ctx, args, a.stdout, a.stderr)
	if errors.Is(err, scenario.ErrUsage) {
		return &codedError{err: err, code: exitUsage}
	}
	return err
}

// app is one invocation's settings and streams.
type app struct {
	addr    string
	addrSet bool // --addr was given before the command
	timeout time.Duration
	// accessKey and secretKey are --access-key and --secret-key; dial
	// falls back on the environment and ~/.aws/credentials
	// (credentials.go).
	accessKey, secretKey string
	tls                  tlsFlags
	stdin                io.Reader
	stdout               io.Writer
	stderr               io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second Ctrl-C kills the process the usual way.
	go func() { <-ctx.Done(); stop() }()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit code. ctx ends on
// Ctrl-C: a command following a stream stops cleanly, others give up.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{addr: defaultAddr, timeout: 10 * time.Second, stdin: stdin, stdout: stdout, stderr: stderr}
	if env := os.Getenv("SLUICE_ADDR"); env != "" {
		a.addr = env
	}
	fs := flag.NewFlagSet("sluice", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.topUsage(stdout, fs)
			return exitOK
		}
		return a.report(usagef("", "%v", err))
	}
	fs.Visit(func(f *flag.Flag) { a.addrSet = a.addrSet || f.Name == "addr" })
	rest := fs.Args()
	if len(rest) == 0 {
		a.topUsage(stderr, fs)
		return exitUsage
	}
	name := rest[0]
	if name == "help" {
		return a.help(rest[1:])
	}
	cmd := lookup(commands, name)
	if cmd == nil {
		return a.report(usagef("", "unknown command %q; the commands are %s (see sluice help)", name, commandNames(commands)))
	}
	return a.report(cmd.run(ctx, a, rest[1:]))
}

// globalFlags registers --addr, --timeout and the TLS flags on fs. Every
// subcommand takes them too, so that they may follow the command.
func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.addr, "addr", a.addr, "the sluice server's binary protocol address (its --listen); $SLUICE_ADDR sets the default")
	fs.DurationVar(&a.timeout, "timeout", a.timeout, "how long to wait for the server to connect and to answer each request (0: no limit)")
	fs.StringVar(&a.accessKey, "access-key", a.accessKey, "the access key id to authenticate with, for a server started with --auth (default $AWS_ACCESS_KEY_ID, else the profile $AWS_PROFILE of ~/.aws/credentials)")
	fs.StringVar(&a.secretKey, "secret-key", a.secretKey, "the secret access key of --access-key (default $AWS_SECRET_ACCESS_KEY, else the profile's)")
	a.tls.register(fs)
}

// help prints the usage of the top level or of a command.
func (a *app) help(args []string) int {
	if len(args) == 0 {
		fs := flag.NewFlagSet("sluice", flag.ContinueOnError)
		a.globalFlags(fs)
		a.topUsage(a.stdout, fs)
		return exitOK
	}
	cmd := lookup(commands, args[0])
	if cmd == nil {
		return a.report(usagef("", "unknown command %q; the commands are %s", args[0], commandNames(commands)))
	}
	// Every command prints its own usage on -h.
	return a.report(cmd.run(context.Background(), a, append(args[1:len(args):len(args)], "-h")))
}

func (a *app) topUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "sluice is the command-line client of a sluice server.\n\n")
	fmt.Fprintf(w, "usage: sluice [--addr HOST:PORT] [--timeout D] [--access-key ID --secret-key KEY] [--tls] [--ca-cert FILE] [--client-cert FILE --client-key FILE] COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-8s %s\n", "help", "show the usage of a command: sluice help COMMAND")
	fmt.Fprintf(w, "\nglobal flags (also accepted after the command):\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// report prints err (if any) the way a user should see it and returns the
// exit code.
func (a *app) report(err error) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	fmt.Fprintf(a.stderr, "sluice: %s\n", describeError(err, a.addr, a.timeout))
	var u *usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	var c *codedError
	if errors.As(err, &c) {
		return c.code
	}
	return exitError
}

func lookup(table []*command, name string) *command {
	for _, c := range table {
		if c.name == name {
			return c
		}
	}
	return nil
}

func commandNames(table []*command) string {
	names := make([]string, 0, len(table))
	for _, c := range table {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// dial connects to the server within --timeout.
func (a *app) dial(ctx context.Context) (*client.Client, error) {
	tlsConfig, err := a.tls.config()
	if err != nil {
		return nil, usagef("", "%v", err)
	}
	creds, source, err := resolveCredentials(a.accessKey, a.secretKey, os.Getenv)
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.callCtx(ctx)
	defer cancel()
	c, err := client.Dial(ctx, a.addr, client.ClientOptions{Credentials: creds, TLS: tlsConfig})
	if err != nil {
		d := &dialError{addr: a.addr, err: tlsHint(err, tlsConfig != nil), source: source}
		if creds != nil {
			d.keyID = creds.AccessKeyID
		}
		return nil, d
	}
	return c, nil
}

// tlsHint adds to a failed connection's error what to change when it
// looks like one side speaks TLS and the other does not, or the server's
// certificate is not trusted.
func tlsHint(err error, usingTLS bool) error {
	var rh tls.RecordHeaderError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case usingTLS && errors.As(err, &rh):
		return fmt.Errorf("%w (the server does not speak TLS: leave out --tls and --ca-cert)", err)
	case usingTLS && errors.Is(err, io.EOF):
		// A TLS server that refuses a handshake says why in an alert; a
		// plaintext one reads the ClientHello as a bad hello and hangs up.
		return fmt.Errorf("%w (the server hung up during the TLS handshake: it looks like it does not speak TLS; leave out --tls and --ca-cert)", err)
	case usingTLS && errors.As(err, &unknownCA):
		return fmt.Errorf("%w (the server's certificate is not signed by a CA this client trusts: give the CA's certificate with --ca-cert)", err)
	case usingTLS && errors.As(err, &hostErr):
		return fmt.Errorf("%w (the server's certificate is not for the host in --addr: connect by a name or address the certificate lists)", err)
	case !usingTLS && errors.Is(err, wire.ErrHandshake):
		return fmt.Errorf("%w (if the server serves TLS (sluiced --tls-cert), connect with --tls or --ca-cert FILE)", err)
	}
	return err
}

// callCtx bounds one request by --timeout.
func (a *app) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.timeout)
}

// call dials, runs f with a context bounded by --timeout, and closes the
// connection: the shape of every one-request command.
func (a *app) call(ctx context.Context, f func(cctx context.Context, c *client.Client) error) error {
	return a.withClient(ctx, func(c *client.Client) error {
		cctx, cancel := a.callCtx(ctx)
		defer cancel()
		return f(cctx, c)
	})
}

// withClient dials, runs f and closes the connection.
func (a *app) withClient(ctx context.Context, f func(c *client.Client) error) error {
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c)
}
