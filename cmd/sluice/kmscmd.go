package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sluicedb/sluice/client"
)

// kmsCommands is `sluice kms`'s command table: the master keys of the
// server's key service, managed through the server that holds them (its
// keyring is written by the server alone).
var kmsCommands = []*command{
	{name: "create", synopsis: "[--description D] [--alias alias/NAME] [--json]", summary: "create a master key", run: kmsCreate},
	{name: "list", synopsis: "[--json]", summary: "list the master keys and their aliases", run: kmsList},
	{name: "describe", synopsis: "KEY [--json]", summary: "show a master key", run: kmsDescribe},
	{name: "alias", synopsis: "alias/NAME KEY", summary: "give a master key another name", run: kmsAlias},
	{name: "rotate", synopsis: "KEY [--rewrap] [--json]", summary: "add a version of a key's material for new data keys (--rewrap: rewrap the stored ones)", run: kmsRotate},
	{name: "disable", synopsis: "KEY", summary: "disable a key: puts to and reads of the streams it encrypts fail", run: kmsDisable},
	{name: "enable", synopsis: "KEY", summary: "enable a disabled key", run: kmsEnable},
}

func kmsMain(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		kmsUsage(a.stderr)
		return usagef("kms", "missing subcommand; the subcommands are %s", commandNames(kmsCommands))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		kmsUsage(a.stdout)
		return errHelpShown
	}
	cmd := lookup(kmsCommands, args[0])
	if cmd == nil {
		return usagef("kms", "unknown subcommand %q; the subcommands are %s", args[0], commandNames(kmsCommands))
	}
	return cmd.run(ctx, a, args[1:])
}

func kmsUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: sluice kms SUBCOMMAND [ARGS]\n\nsubcommands:\n")
	for _, c := range kmsCommands {
		fmt.Fprintf(w, "  %-9s %-48s %s\n", c.name, c.synopsis, c.summary)
	}
	fmt.Fprintf(w, "\nKEY is a key id (a UUID), a key ARN, an alias (alias/NAME) or an alias ARN. Encrypt a stream with\n"+
		"'sluice stream encrypt NAME --key KEY'. Run 'sluice kms SUBCOMMAND -h' for flags.\n")
}

// keyJSON is a master key as the --json outputs show it.
type keyJSON struct {
	KeyID       string    `json:"key_id"`
	ARN         string    `json:"arn"`
	Description string    `json:"description"`
	State       string    `json:"state"`
	Version     uint32    `json:"version"`
	Created     time.Time `json:"created"`
	Rotated     time.Time `json:"rotated"`
	Aliases     []string  `json:"aliases"`
}

func toKeyJSON(k client.KeyInfo, aliases []client.AliasInfo) keyJSON {
	out := keyJSON{KeyID: k.KeyID, ARN: k.ARN, Description: k.Description, State: k.State(), Version: k.Version,
		Created: k.Created.UTC(), Rotated: k.Rotated.UTC(), Aliases: []string{}}
	for _, al := range aliases {
		if al.KeyID == k.KeyID {
			out.Aliases = append(out.Aliases, al.Name)
		}
	}
	return out
}

// writeKey prints a key as lines of NAME VALUE.
func writeKey(w io.Writer, k keyJSON) {
	fmt.Fprintf(w, "key id       %s\n", k.KeyID)
	fmt.Fprintf(w, "arn          %s\n", k.ARN)
	if k.Description != "" {
		fmt.Fprintf(w, "description  %s\n", k.Description)
	}
	fmt.Fprintf(w, "state        %s\n", k.State)
	fmt.Fprintf(w, "version      %d (made %s)\n", k.Version, k.Rotated.Format(time.RFC3339))
	fmt.Fprintf(w, "created      %s\n", k.Created.Format(time.RFC3339))
	for _, al := range k.Aliases {
		fmt.Fprintf(w, "alias        %s\n", al)
	}
}

// describeKey prints the key key names, with its aliases.
func (a *app) describeKey(cctx context.Context, c *client.Client, k client.KeyInfo, asJSON bool) error {
	aliases, err := c.ListAliases(cctx)
	if err != nil {
		return err
	}
	j := toKeyJSON(k, aliases)
	if asJSON {
		return writeJSON(a.stdout, j)
	}
	writeKey(a.stdout, j)
	return nil
}

func kmsCreate(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("kms create", "[--description D] [--alias alias/NAME] [--json]",
		"Creates an enabled master key in the server's key service and prints it.")
	desc := f.String("description", "", "what the key is for")
	alias := f.String("alias", "", "also name the key alias/NAME")
	asJSON := f.Bool("json", false, "print the key as a JSON object")
	if _, err := f.parse(args, 0, 0, ""); err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		k, err := c.CreateKey(cctx, *desc, *alias)
		if err != nil {
			return err
		}
		return a.describeKey(cctx, c, k, *asJSON)
	})
}

func kmsList(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("kms list", "[--json]", "Lists the master keys, oldest first, with their state, version and aliases.")
	asJSON := f.Bool("json", false, "print a JSON array of keys")
	if _, err := f.parse(args, 0, 0, ""); err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		keys, err := c.ListKeys(cctx)
		if err != nil {
			return err
		}
		aliases, err := c.ListAliases(cctx)
		if err != nil {
			return err
		}
		out := make([]keyJSON, len(keys))
		for i, k := range keys {
			out[i] = toKeyJSON(k, aliases)
		}
		if *asJSON {
			return writeJSON(a.stdout, out)
		}
		for _, k := range out {
			fmt.Fprintf(a.stdout, "%s  %-8s v%d", k.KeyID, k.State, k.Version)
			for _, al := range k.Aliases {
				fmt.Fprintf(a.stdout, "  %s", al)
			}
			if k.Description != "" {
				fmt.Fprintf(a.stdout, "  (%s)", k.Description)
			}
			fmt.Fprintln(a.stdout)
		}
		return nil
	})
}

func kmsDescribe(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("kms describe", "KEY [--json]", "Shows a master key: its id, ARN, state, newest version and aliases.")
	asJSON := f.Bool("json", false, "print the key as a JSON object")
	pos, err := f.parse(args, 1, 1, "key")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		k, err := c.DescribeKey(cctx, pos[0])
		if err != nil {
			return err
		}
		return a.describeKey(cctx, c, k, *asJSON)
	})
}

func kmsAlias(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("kms alias", "alias/NAME KEY", "Points a new alias at a master key. An alias names one key for good.")
	pos, err := f.parse(args, 2, 2, "alias and key")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		if err := c.CreateAlias(cctx, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s now names key %s\n", pos[0], pos[1])
		return nil
	})
}

// rotateJSON is what `sluice kms rotate --json` prints.
type rotateJSON struct {
	Key    keyJSON     `json:"key"`
	Rewrap *rewrapJSON `json:"rewrap,omitempty"`
}

type rewrapJSON struct {
	Shards   int `json:"shards"`
	Segments int `json:"segments"`
}

func kmsRotate(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("kms rotate", "KEY [--rewrap] [--json]",
		"Adds a new version of a master key's material: data keys made from now on are wrapped under it, and older\n"+
			"versions stay to unwrap the data keys they wrapped. With --rewrap, every stored data key (of every stream)\n"+
			"is then rewrapped under the newest version of its master key; no record byte is rewritten.")
	rewrap := f.Bool("rewrap", false, "rewrap every stored data key under the newest key versions afterwards")
	asJSON := f.Bool("json", false, "print the key (and the rewrap's report) as a JSON object")
	pos, err := f.parse(args, 1, 1, "key")
	if err != nil {
		return err
	}
	return a.withClient(ctx, func(c *client.Client) error {
		cctx, cancel := a.callCtx(ctx)
		k, err := c.RotateKey(cctx, pos[0])
		cancel()
		if err != nil {
			return err
		}
		out := rotateJSON{Key: toKeyJSON(k, nil)}
		if *rewrap {
			// A rewrap visits every segment: it gets no deadline beyond
			// Ctrl-C.
			rep, err := c.Rewrap(ctx, "")
			if err != nil {
				return fmt.Errorf("key %s rotated to version %d, but the rewrap stopped after %d segments of %d shards: %w",
					k.KeyID, k.Version, rep.Segments, rep.Shards, err)
			}
			out.Rewrap = &rewrapJSON{Shards: rep.Shards, Segments: rep.Segments}
		}
		if *asJSON {
			return writeJSON(a.stdout, out)
		}
		fmt.Fprintf(a.stdout, "rotated key %s to version %d\n", k.KeyID, k.Version)
		if out.Rewrap != nil {
			fmt.Fprintf(a.stdout, "rewrapped the data keys of %d segments in %d shards\n", out.Rewrap.Segments, out.Rewrap.Shards)
		}
		return nil
	})
}

func kmsDisable(ctx context.Context, a *app, args []string) error {
	return kmsSetEnabled(ctx, a, args, false)
}

func kmsEnable(ctx context.Context, a *app, args []string) error {
	return kmsSetEnabled(ctx, a, args, true)
}

func kmsSetEnabled(ctx context.Context, a *app, args []string, on bool) error {
	name, about := "kms disable", "Disables a master key: puts to the streams encrypted under it, and reads of the records it\n"+
		"encrypts, fail with KMSDisabledException until it is enabled again."
	if on {
		name, about = "kms enable", "Enables a disabled master key."
	}
	f := a.newFlags(name, "KEY", about)
	pos, err := f.parse(args, 1, 1, "key")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		if on {
			err = c.EnableKey(cctx, pos[0])
		} else {
			err = c.DisableKey(cctx, pos[0])
		}
		if err != nil {
			return err
		}
		state := "disabled"
		if on {
			state = "enabled"
		}
		fmt.Fprintf(a.stdout, "%s key %s\n", state, pos[0])
		return nil
	})
}
