package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// groupCommands are the subcommands of `sluice group`.
var groupCommands = []*command{
	{name: "list", synopsis: "STREAM", summary: "list a stream's consumer groups", run: groupList},
	{name: "describe", synopsis: "STREAM NAME [--json]", summary: "show a group's members, leases, checkpoints and lag per shard", run: groupDescribe},
	{name: "reset", synopsis: "STREAM NAME --to WHERE", summary: "move a group's checkpoints: trim-horizon, latest, a time or a sequence number", run: groupReset},
	{name: "delete", synopsis: "STREAM NAME", summary: "delete a group and its checkpoints", run: groupDelete},
}

func groupMain(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		groupUsage(a.stderr)
		return usagef("group", "missing subcommand; the subcommands are %s", commandNames(groupCommands))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		groupUsage(a.stdout)
		return errHelpShown
	}
	cmd := lookup(groupCommands, args[0])
	if cmd == nil {
		return usagef("group", "unknown subcommand %q; the subcommands are %s", args[0], commandNames(groupCommands))
	}
	return cmd.run(ctx, a, args[1:])
}

func groupUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: sluice group SUBCOMMAND [ARGS]\n\nsubcommands:\n")
	for _, c := range groupCommands {
		fmt.Fprintf(w, "  %-9s %-24s %s\n", c.name, c.synopsis, c.summary)
	}
	fmt.Fprintf(w, "\nMembers join a group with 'sluice consume STREAM --group NAME' or a group consumer of the Go client.\n")
}

func groupList(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("group list", "STREAM", "Lists the consumer groups of a stream, one name a line.")
	pos, err := f.parse(args, 1, 1, "stream name")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		groups, err := c.ListGroups(cctx, pos[0])
		if err != nil {
			return err
		}
		for _, g := range groups {
			fmt.Fprintln(a.stdout, g)
		}
		return nil
	})
}

func groupDescribe(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("group describe", "STREAM NAME [--json]",
		"Shows a consumer group: its members with their leases and last heartbeats, and per shard its owner, fencing\n"+
			"epoch, checkpoint and lag (records after the checkpoint, and the age of the oldest of them in ms).")
	asJSON := f.Bool("json", false, "print the description as JSON")
	pos, err := f.parse(args, 2, 2, "stream name and group name")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		info, err := c.DescribeGroup(cctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		if *asJSON {
			e := json.NewEncoder(a.stdout)
			e.SetIndent("", "  ")
			return e.Encode(info)
		}
		printGroup(a.stdout, pos[0], info)
		return nil
	})
}

func printGroup(w io.Writer, stream string, info *client.GroupInfo) {
	fmt.Fprintf(w, "group %s of stream %s\n", info.Name, stream)
	fmt.Fprintf(w, "failover time %v, created %s, %d lease moves, %d fenced checkpoints\n\n",
		time.Duration(info.FailoverMillis)*time.Millisecond, info.Created.UTC().Format(time.RFC3339), info.LeaseMoves, info.FencedCheckpoints)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tLEASES\tLAST HEARTBEAT")
	for _, m := range info.Members {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", m.Name, m.Leases, m.LastHeartbeat.UTC().Format(time.RFC3339Nano))
	}
	if len(info.Members) == 0 {
		fmt.Fprintln(tw, "(none)\t\t")
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tOWNER\tEPOCH\tCHECKPOINT\tLAG RECORDS\tLAG MS\tSTATE")
	for _, s := range info.Shards {
		owner := s.Owner
		if owner == "" {
			owner = "-"
		}
		var state []string
		if s.Closed {
			state = append(state, "closed")
		}
		if s.Waiting {
			state = append(state, "waiting for parent")
		}
		if s.Releasing {
			state = append(state, "handing over")
		}
		if len(state) == 0 {
			state = append(state, "-")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\n", s.Shard, owner, s.Epoch, checkpointText(s.Checkpoint),
			s.LagRecords, s.LagMillis, strings.Join(state, ", "))
	}
	tw.Flush()
}

func checkpointText(c client.GroupCheckpoint) string {
	switch {
	case c.ShardEnd:
		return "SHARD_END"
	case c.Seq == "":
		return "-"
	case c.Whole:
		return c.Seq
	}
	return fmt.Sprintf("%s/%d", c.Seq, c.SubSeq)
}

const groupResetAbout = `Moves every checkpoint of a consumer group, backwards or forwards, and takes its leases back: the members
get them again on their next heartbeat and read from the new checkpoints.

--to trim-horizon starts every shard again at its oldest record; latest skips to the newest; an RFC 3339
time (2024-05-01T12:00:00Z) starts each shard at its first record from then on; a sequence number
starts that record's shard (only) at that record.`

func groupReset(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("group reset", "STREAM NAME --to WHERE", groupResetAbout)
	to := f.String("to", "", "trim-horizon, latest, an RFC 3339 time, or a sequence number")
	pos, err := f.parse(args, 2, 2, "stream name and group name")
	if err != nil {
		return err
	}
	target, err := parseResetTarget(*to)
	if err != nil {
		return usagef(f.cmd, "%v", err)
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		return c.ResetGroup(cctx, pos[0], pos[1], target)
	})
}

func parseResetTarget(s string) (client.GroupResetTarget, error) {
	norm := strings.ToLower(strings.ReplaceAll(s, "_", "-"))
	switch {
	case norm == "trim-horizon":
		return client.GroupResetTarget{To: string(api.TrimHorizon)}, nil
	case norm == "latest":
		return client.GroupResetTarget{To: string(api.Latest)}, nil
	case isDigits(s):
		seq, err := api.ParseSeqNum(s)
		if err != nil {
			return client.GroupResetTarget{}, fmt.Errorf("--to %q: %v", s, err)
		}
		return client.GroupResetTarget{To: string(api.AtSequenceNumber), Seq: seq.String()}, nil
	case s != "":
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return client.GroupResetTarget{To: string(api.AtTimestamp), Time: t}, nil
		}
	}
	return client.GroupResetTarget{}, fmt.Errorf("--to %q: want trim-horizon, latest, an RFC 3339 time like 2024-05-01T12:00:00Z, or a sequence number", s)
}

func groupDelete(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("group delete", "STREAM NAME", "Deletes a consumer group and its checkpoints; its members stop on their next heartbeat.")
	pos, err := f.parse(args, 2, 2, "stream name and group name")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		return c.DeleteGroup(cctx, pos[0], pos[1])
	})
}
