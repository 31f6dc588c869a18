package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// cmdFlags is a command's flag set with its usage text. Flags may come
// before, between or after the positional arguments; "--" ends the flags.
type cmdFlags struct {
	*flag.FlagSet
	a        *app
	cmd      string // "stream create"
	synopsis string // "NAME --shards N [flags]"
	about    string // a paragraph printed under the synopsis by -h
}

func (a *app) newFlags(cmd, synopsis, about string) *cmdFlags {
	fs := flag.NewFlagSet("sluice "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &cmdFlags{FlagSet: fs, a: a, cmd: cmd, synopsis: synopsis, about: about}
	a.globalFlags(fs)
	return f
}

// usage writes the command's synopsis, description and flags.
func (f *cmdFlags) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: sluice %s %s\n", f.cmd, f.synopsis)
	if f.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(f.about, "\n"))
	}
	fmt.Fprintf(w, "\nflags:\n")
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
}

// parse parses args and returns the positional arguments, of which there
// must be min to max (max < 0: no limit); names says what they are for the
// error when they are missing. On -h it prints the usage to stdout and
// returns errHelpShown.
func (f *cmdFlags) parse(args []string, min, max int, names string) ([]string, error) {
	pos, err := parseInterspersed(f.FlagSet, args)
	if errors.Is(err, flag.ErrHelp) {
		f.usage(f.a.stdout)
		return nil, errHelpShown
	}
	if err != nil {
		return nil, usagef(f.cmd, "%v", err)
	}
	if err := f.wantArgs(pos, min, max, names); err != nil {
		return nil, err
	}
	return pos, nil
}

// parseInterspersed parses flags found anywhere in args, returning the
// other arguments in order. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// wantArgs checks the number of positional arguments.
func (f *cmdFlags) wantArgs(pos []string, min, max int, names string) error {
	switch {
	case len(pos) < min:
		return usagef(f.cmd, "missing %s: usage: sluice %s %s", names, f.cmd, f.synopsis)
	case max >= 0 && len(pos) > max:
		return usagef(f.cmd, "unexpected argument %q: usage: sluice %s %s", pos[max], f.cmd, f.synopsis)
	}
	return nil
}

// positiveInt parses a count given as an argument.
func positiveInt(cmd, what, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, usagef(cmd, "%s %q is not a positive whole number", what, s)
	}
	return n, nil
}

// mapFlag collects repeated KEY=VALUE flags.
type mapFlag map[string]string

func (m mapFlag) String() string { return "" }

func (m mapFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	m[k] = v
	return nil
}

// tlsFlags are the TLS settings of a connection to the server: the global
// flags --tls, --ca-cert, --client-cert and --client-key, which
// `sluice bench` takes too.
type tlsFlags struct {
	on         bool   // --tls
	caCert     string // --ca-cert: PEM CA certificate(s) to verify the server with; implies --tls
	clientCert string // --client-cert and --client-key: a certificate for mutual TLS
	clientKey  string
}

// register adds the TLS flags to fs.
func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "tls", f.on, "connect over TLS (the server's --tls-cert), verifying the server with the system's CAs or --ca-cert")
	fs.StringVar(&f.caCert, "ca-cert", f.caCert, "PEM file of the CA certificate(s) that verify the server, instead of the system's; implies --tls")
	fs.StringVar(&f.clientCert, "client-cert", f.clientCert, "PEM client certificate for servers that require one (sluiced --tls-client-ca); needs --client-key, implies --tls")
	fs.StringVar(&f.clientKey, "client-key", f.clientKey, "PEM private key of --client-cert")
}

// args returns the flags as command-line arguments, to pass them on.
func (f *tlsFlags) args() []string {
	var a []string
	if f.on {
		a = append(a, "--tls")
	}
	for _, kv := range [][2]string{{"--ca-cert", f.caCert}, {"--client-cert", f.clientCert}, {"--client-key", f.clientKey}} {
		if kv[1] != "" {
			a = append(a, kv[0], kv[1])
		}
	}
	return a
}

// config returns the TLS configuration the flags describe, or nil for a
// plaintext connection.
func (f *tlsFlags) config() (*tls.Config, error) {
	if !f.on && f.caCert == "" && f.clientCert == "" && f.clientKey == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.caCert != "" {
		b, err := os.ReadFile(f.caCert)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--ca-cert %s holds no PEM certificate; it must hold the certificate of the CA that signed the server's", f.caCert)
		}
	}
	switch {
	case f.clientCert != "" && f.clientKey != "":
		cert, err := tls.LoadX509KeyPair(f.clientCert, f.clientKey)
		if err != nil {
			return nil, fmt.Errorf("--client-cert %s and --client-key %s: %w", f.clientCert, f.clientKey, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case f.clientCert != "":
		return nil, fmt.Errorf("--client-cert %s needs --client-key, the certificate's private key", f.clientCert)
	case f.clientKey != "":
		return nil, fmt.Errorf("--client-key %s needs --client-cert, the certificate it belongs to", f.clientKey)
	}
	return c, nil
}
