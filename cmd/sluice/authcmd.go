package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sluicedb/sluice/auth"
)

// authCommands is `sluice auth`'s command table. These commands edit the
// users file the server reads (sluiced --auth FILE); they do not talk to a
// server.
var authCommands = []*command{
	{name: "add-user", synopsis: "NAME [--policy FILE] [--file PATH]", summary: "add a user with a new key pair to the users file and print the keys once", run: authAddUser},
}

// defaultUsersFile is where `sluice auth` looks for the users file when
// neither --file nor $SLUICE_AUTH_FILE names one.
const defaultUsersFile = "./auth.json"

func authMain(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		authUsage(a.stderr)
		return usagef("auth", "missing subcommand; the subcommands are %s", commandNames(authCommands))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		authUsage(a.stdout)
		return errHelpShown
	}
	cmd := lookup(authCommands, args[0])
	if cmd == nil {
		return usagef("auth", "unknown subcommand %q; the subcommands are %s", args[0], commandNames(authCommands))
	}
	return cmd.run(ctx, a, args[1:])
}

func authUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: sluice auth SUBCOMMAND [ARGS]\n\nsubcommands:\n")
	for _, c := range authCommands {
		fmt.Fprintf(w, "  %-9s %-34s %s\n", c.name, c.synopsis, c.summary)
	}
	fmt.Fprintf(w, "\nThe users file is the one sluiced reads with --auth; send sluiced SIGHUP to load changes.\n")
}

// addUserOutput is what `sluice auth add-user --json` prints.
type addUserOutput struct {
	Name            string `json:"name"`
	ARN             string `json:"arn"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	File            string `json:"file"`
}

func authAddUser(_ context.Context, a *app, args []string) error {
	f := a.newFlags("auth add-user", "NAME [--policy FILE] [--file PATH]",
		"Adds a user with a new random access key pair to the users file (creating it if need be; "+
			"it is written atomically with mode 0600) and prints the keys. The secret is shown only this once. "+
			"Without --policy the user may do nothing until a policy grants it (a user's policy in the file, "+
			"or a stream's resource policy).")
	file := f.String("file", "", "the users file (sluiced's --auth); default $SLUICE_AUTH_FILE or "+defaultUsersFile)
	policyFile := f.String("policy", "", "a JSON file holding the user's identity policy")
	asJSON := f.Bool("json", false, "print the keys as one JSON object")
	pos, err := f.parse(args, 1, 1, "user name")
	if err != nil {
		return err
	}
	path := *file
	if path == "" {
		path = os.Getenv("SLUICE_AUTH_FILE")
	}
	if path == "" {
		path = defaultUsersFile
	}
	var policy []byte
	if *policyFile != "" {
		policy, err = os.ReadFile(*policyFile)
		if err != nil {
			return fmt.Errorf("--policy: %w", err)
		}
		if _, err := auth.ParsePolicy(policy); err != nil {
			return fmt.Errorf("--policy %s: %w", *policyFile, err)
		}
	}
	keyID, secret, err := auth.AddUser(path, pos[0], policy)
	if err != nil {
		return err
	}
	users, err := auth.ParseUsersFile(path)
	if err != nil {
		return err
	}
	out := addUserOutput{Name: pos[0], AccessKeyID: keyID, SecretAccessKey: secret, File: path,
		ARN: "arn:aws:iam::" + users.Account() + ":user/" + pos[0]}
	if *asJSON {
		return writeJSON(a.stdout, out)
	}
	fmt.Fprintf(a.stdout, "added user %s (%s) to %s\n", out.Name, out.ARN, out.File)
	fmt.Fprintf(a.stdout, "access_key_id:     %s\n", out.AccessKeyID)
	fmt.Fprintf(a.stdout, "secret_access_key: %s\n", out.SecretAccessKey)
	fmt.Fprintf(a.stdout, "This is the only time the keys are printed. Send sluiced SIGHUP to load the new user.\n")
	return nil
}
