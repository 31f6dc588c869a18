package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/ratelimit"
)

// streamCommands are the subcommands of `sluice stream`.
var streamCommands = []*command{
	{name: "create", synopsis: "NAME --shards N [flags]", summary: "create a stream", run: streamCreate},
	{name: "list", synopsis: "[--json]", summary: "list the streams", run: streamList},
	{name: "describe", synopsis: "NAME [--json]", summary: "show a stream's settings and shards: hash key ranges, lineage, state, sequence ranges", run: streamDescribe},
	{name: "delete", synopsis: "NAME [--force]", summary: "delete a stream and all its records", run: streamDelete},
	{name: "split", synopsis: "NAME SHARD [--at HASHKEY]", summary: "split a shard in two (at the middle of its hash key range by default)", run: streamSplit},
	{name: "merge", synopsis: "NAME SHARD ADJACENT", summary: "merge two shards with adjacent hash key ranges", run: streamMerge},
	{name: "scale", synopsis: "NAME --shards N", summary: "reshard to N open shards of equal ranges (half to double the current count)", run: streamScale},
	{name: "mode", synopsis: "NAME provisioned|on-demand", summary: "switch the capacity mode (on-demand streams split and merge their shards by themselves)", run: streamMode},
	{name: "retention", synopsis: "NAME HOURS", summary: "set the retention period (24..8760 hours)", run: streamRetention},
	{name: "tag", synopsis: "NAME KEY=VALUE...", summary: "add or replace tags", run: streamTag},
	{name: "untag", synopsis: "NAME KEY...", summary: "remove tags", run: streamUntag},
	{name: "encrypt", synopsis: "NAME [--key KEY]", summary: "encrypt the records put from now on at rest (default key alias/aws/kinesis)", run: streamEncrypt},
	{name: "decrypt", synopsis: "NAME", summary: "store the records put from now on in the clear (stored ones stay encrypted)", run: streamDecrypt},
}

func streamMain(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		streamUsage(a.stderr)
		return usagef("stream", "missing subcommand; the subcommands are %s", commandNames(streamCommands))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		streamUsage(a.stdout)
		return errHelpShown
	}
	cmd := lookup(streamCommands, args[0])
	if cmd == nil {
		return usagef("stream", "unknown subcommand %q; the subcommands are %s", args[0], commandNames(streamCommands))
	}
	return cmd.run(ctx, a, args[1:])
}

func streamUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: sluice stream SUBCOMMAND [ARGS]\n\nsubcommands:\n")
	for _, c := range streamCommands {
		fmt.Fprintf(w, "  %-9s %-26s %s\n", c.name, c.synopsis, c.summary)
	}
	fmt.Fprintf(w, "\nSHARD is a shard id (shardId-000000000003) or its index (3). Run 'sluice stream SUBCOMMAND -h' for flags.\n")
}

func streamCreate(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream create", "NAME --shards N [flags]",
		"Creates a stream. Its hash key space is divided evenly among its shards; it is ACTIVE when the command returns.")
	shards := f.Int("shards", 0, "number of shards, 1..10000 (required unless --mode on-demand)")
	mode := f.String("mode", "provisioned", "capacity mode: provisioned, or on-demand (starts with 4 shards)")
	retention := f.Int("retention", 24, "retention period in hours, 24..8760")
	fsync := f.String("fsync", "", "when puts are acknowledged: always (after fdatasync), interval or none (default: the server's --fsync)")
	quotas := f.String("quotas", "", "per-shard limits: kinesis or unlimited (default: the server's --quotas)")
	maxRecord := f.Int("max-record-size", 0, "limit on a record's key plus data in bytes, 1 KiB..10 MiB (default 1 MiB)")
	tags := mapFlag{}
	f.Var(tags, "tag", "a tag as KEY=VALUE (repeat for more)")
	pos, err := f.parse(args, 1, 1, "stream name")
	if err != nil {
		return err
	}
	in := api.CreateStreamInput{Name: pos[0], ShardCount: *shards, RetentionHours: *retention, MaxRecordSize: *maxRecord}
	if len(tags) > 0 {
		in.Tags = tags
	}
	if in.Mode, err = parseMode(*mode); err != nil {
		return usagef(f.cmd, "%v", err)
	}
	switch {
	case in.Mode == api.OnDemand && *shards != 0:
		return usagef(f.cmd, "--shards does not apply to --mode on-demand: an on-demand stream starts with %d shards", api.OnDemandShards)
	case in.Mode == api.Provisioned && *shards <= 0:
		return usagef(f.cmd, "--shards N is required: how many shards the stream has (1..10000)")
	}
	if *fsync != "" {
		if in.Durability, err = api.ParseDurability(*fsync); err != nil {
			return usagef(f.cmd, "--fsync %q: want always, interval or none", *fsync)
		}
	}
	if *quotas != "" {
		l, err := ratelimit.Preset(*quotas)
		if err != nil {
			return usagef(f.cmd, "--quotas %q: want kinesis or unlimited", *quotas)
		}
		in.Quotas = &l
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		info, err := c.CreateStream(cctx, in)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created stream %s: %d shards, %s, retention %d hours\n",
			info.Name, info.OpenShardCount(), info.Mode, info.RetentionHours)
		return nil
	})
}

func streamEncrypt(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream encrypt", "NAME [--key KEY]",
		"Encrypts every record put to the stream from now on at rest (StartStreamEncryption), under a data key of the\n"+
			"master key KEY; records already stored stay as they are. KEY is a key id, key ARN, alias or alias ARN.")
	key := f.String("key", "alias/aws/kinesis", "the master key (see sluice kms list)")
	pos, err := f.parse(args, 1, 1, "stream name")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		if err := c.StartStreamEncryption(cctx, pos[0], *key); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "stream %s: records put from now on are encrypted under %s\n", pos[0], *key)
		return nil
	})
}

func streamDecrypt(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream decrypt", "NAME",
		"Stores every record put to the stream from now on in the clear (StopStreamEncryption). Records already\n"+
			"stored encrypted stay encrypted, and readable while their master key is.")
	pos, err := f.parse(args, 1, 1, "stream name")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		if err := c.StopStreamEncryption(cctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "stream %s: records put from now on are stored in the clear\n", pos[0])
		return nil
	})
}

// parseMode reads --mode.
func parseMode(s string) (api.StreamMode, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "_", "-")) {
	case "provisioned":
		return api.Provisioned, nil
	case "on-demand", "ondemand":
		return api.OnDemand, nil
	}
	return "", fmt.Errorf("mode %q: want provisioned or on-demand", s)
}

func streamList(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream list", "[--json]", "Lists the names of all streams, sorted.")
	asJSON := f.Bool("json", false, "print a JSON array of names")
	if _, err := f.parse(args, 0, 0, ""); err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		names, err := c.ListStreams(cctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if names == nil {
				names = []string{}
			}
			return writeJSON(a.stdout, names)
		}
		for _, n := range names {
			fmt.Fprintln(a.stdout, n)
		}
		return nil
	})
}

func streamDescribe(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream describe", "NAME [--json]",
		"Shows a stream's settings and every shard, open and closed: its hash key range, its parents, whether it is\n"+
			"open, how many records it retains and the sequence numbers of the first and last of them. For an ON_DEMAND\n"+
			"stream, also the single hot keys its autoscaler reports: keys that keep a shard over its quota by themselves,\n"+
			"which no split can spread.")
	asJSON := f.Bool("json", false, "print one JSON object (hash keys and sequence numbers as decimal strings)")
	pos, err := f.parse(args, 1, 1, "stream name")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		info, err := c.DescribeStream(cctx, pos[0])
		if err != nil {
			return err
		}
		var hot []api.HotKey
		if info.Mode == api.OnDemand {
			if hot, err = c.HotKeys(cctx, pos[0]); err != nil {
				fmt.Fprintf(a.stderr, "sluice: could not list the stream's hot keys (a server older than this client?): %v\n", err)
			}
		}
		if *asJSON {
			return writeJSON(a.stdout, streamToJSON(info, hot))
		}
		return writeDescribe(a.stdout, info, hot)
	})
}

func streamDelete(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream delete", "NAME [--force]", "Deletes a stream and all its records.")
	force := f.Bool("force", false, "delete even if enhanced fan-out consumers are registered (deregistering them)")
	pos, err := f.parse(args, 1, 1, "stream name")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		if err := c.DeleteStream(cctx, pos[0], *force); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "deleted stream %s\n", pos[0])
		return nil
	})
}

func streamSplit(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream split", "NAME SHARD [--at HASHKEY]",
		"Closes an open shard and opens two children dividing its hash key range: [start, HASHKEY-1] and\n"+
			"[HASHKEY, end]. The parent stays readable until retention removes it.")
	at := f.String("at", "", "the first hash key of the upper child, in decimal (default: the middle of the shard's range)")
	pos, err := f.parse(args, 2, 2, "stream name and shard")
	if err != nil {
		return err
	}
	name := pos[0]
	shardID, err := canonicalShardID(f.cmd, pos[1])
	if err != nil {
		return err
	}
	var newStart api.HashKey
	if *at != "" {
		if newStart, err = api.ParseHashKey(*at); err != nil {
			return usagef(f.cmd, "--at %q is not a hash key: want a decimal integer in [0, 2^128-1]", *at)
		}
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		before, err := c.ListShards(cctx, name)
		if err != nil {
			return err
		}
		if *at == "" {
			s := findShard(before, shardID)
			if s == nil {
				return fmt.Errorf("stream %s has no shard %s; its shards are %s", name, shardID, shardList(before, false))
			}
			if s.Closed {
				return fmt.Errorf("shard %s of stream %s is closed; split one of its open descendants (open shards: %s)", shardID, name, shardList(before, true))
			}
			var ok bool
			if newStart, ok = middleHashKey(s.HashStart, s.HashEnd); !ok {
				return fmt.Errorf("shard %s of stream %s covers a single hash key; it cannot be split", shardID, name)
			}
		}
		if err := c.SplitShard(cctx, name, shardID, newStart); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "split %s of stream %s at hash key %s into:\n", shardID, name, newStart)
		return printChildren(cctx, c, a.stdout, name, before)
	})
}

func streamMerge(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream merge", "NAME SHARD ADJACENT",
		"Closes two open shards whose hash key ranges touch and opens one child covering both.")
	pos, err := f.parse(args, 3, 3, "stream name and two shards")
	if err != nil {
		return err
	}
	s1, err := canonicalShardID(f.cmd, pos[1])
	if err != nil {
		return err
	}
	s2, err := canonicalShardID(f.cmd, pos[2])
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		before, err := c.ListShards(cctx, pos[0])
		if err != nil {
			return err
		}
		if err := c.MergeShards(cctx, pos[0], s1, s2); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "merged %s and %s of stream %s into:\n", s1, s2, pos[0])
		return printChildren(cctx, c, a.stdout, pos[0], before)
	})
}

func streamScale(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream scale", "NAME --shards N",
		"Reshards a stream to N open shards of equal hash key ranges (uniform scaling) through splits and merges.\n"+
			"N must be between half and double the current number of open shards.")
	shards := f.Int("shards", 0, "the target number of open shards (required)")
	pos, err := f.parse(args, 1, 1, "stream name")
	if err != nil {
		return err
	}
	if *shards <= 0 {
		return usagef(f.cmd, "--shards N is required: the number of open shards to scale to")
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		if err := c.UpdateShardCount(cctx, pos[0], *shards); err != nil {
			return err
		}
		after, err := c.ListShards(cctx, pos[0])
		if err != nil {
			return err
		}
		open := openShards(after)
		fmt.Fprintf(a.stdout, "stream %s has %d open shards:\n", pos[0], len(open))
		writeShardRanges(a.stdout, open)
		return nil
	})
}

func streamMode(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream mode", "NAME provisioned|on-demand",
		"Switches a stream between PROVISIONED (shards change only when asked: split, merge, scale) and ON_DEMAND (the\n"+
			"server splits hot shards where their traffic is and merges cold ones, keeping at least 4; see docs/scaling.md).\n"+
			"The shards are kept as they are at the switch.")
	pos, err := f.parse(args, 2, 2, "stream name and mode")
	if err != nil {
		return err
	}
	mode, err := parseMode(pos[1])
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		if err := c.SetStreamMode(cctx, pos[0], mode); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "stream %s is %s\n", pos[0], mode)
		return nil
	})
}

func streamRetention(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream retention", "NAME HOURS",
		"Sets how long records are kept: 24..8760 hours. Lowering it removes older records at the next retention pass.")
	pos, err := f.parse(args, 2, 2, "stream name and hours")
	if err != nil {
		return err
	}
	hours, err := positiveInt(f.cmd, "HOURS", pos[1])
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		info, err := c.DescribeStream(cctx, pos[0])
		if err != nil {
			return err
		}
		switch {
		case hours > info.RetentionHours:
			err = c.IncreaseRetention(cctx, pos[0], hours)
		case hours < info.RetentionHours:
			err = c.DecreaseRetention(cctx, pos[0], hours)
		default:
			fmt.Fprintf(a.stdout, "stream %s already keeps records for %d hours\n", pos[0], hours)
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "stream %s keeps records for %d hours (was %d)\n", pos[0], hours, info.RetentionHours)
		return nil
	})
}

func streamTag(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream tag", "NAME KEY=VALUE...", "Adds tags to a stream, replacing the values of keys it already has.")
	pos, err := f.parse(args, 2, -1, "stream name and KEY=VALUE tags")
	if err != nil {
		return err
	}
	tags := mapFlag{}
	for _, s := range pos[1:] {
		if err := tags.Set(s); err != nil {
			return usagef(f.cmd, "tag %v", err)
		}
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		if err := c.AddTags(cctx, pos[0], tags); err != nil {
			return err
		}
		return printTags(cctx, c, a.stdout, pos[0])
	})
}

func streamUntag(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("stream untag", "NAME KEY...", "Removes tags from a stream by key.")
	pos, err := f.parse(args, 2, -1, "stream name and tag keys")
	if err != nil {
		return err
	}
	return a.call(ctx, func(cctx context.Context, c *client.Client) error {
		if err := c.RemoveTags(cctx, pos[0], pos[1:]); err != nil {
			return err
		}
		return printTags(cctx, c, a.stdout, pos[0])
	})
}

func printTags(ctx context.Context, c *client.Client, w io.Writer, name string) error {
	tags, err := c.ListTags(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "stream %s tags: %s\n", name, formatTags(tags))
	return nil
}

// canonicalShardID accepts "shardId-000000000003" or "3".
func canonicalShardID(cmd, s string) (string, error) {
	idx, err := api.ParseShardID(s)
	if err != nil {
		return "", usagef(cmd, "shard %q: want a shard id like shardId-000000000003, or its index 3", s)
	}
	return api.ShardID(idx), nil
}

func findShard(shards []api.ShardInfo, id string) *api.ShardInfo {
	for i := range shards {
		if shards[i].ID == id {
			return &shards[i]
		}
	}
	return nil
}

func openShards(shards []api.ShardInfo) []api.ShardInfo {
	var out []api.ShardInfo
	for _, s := range shards {
		if !s.Closed {
			out = append(out, s)
		}
	}
	return out
}

// shardList names shards for an error message.
func shardList(shards []api.ShardInfo, openOnly bool) string {
	var ids []string
	for _, s := range shards {
		if !openOnly || !s.Closed {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// printChildren lists the shards a reshard created: those not in before.
func printChildren(ctx context.Context, c *client.Client, w io.Writer, name string, before []api.ShardInfo) error {
	after, err := c.ListShards(ctx, name)
	if err != nil {
		return err
	}
	var created []api.ShardInfo
	for _, s := range after {
		if findShard(before, s.ID) == nil {
			created = append(created, s)
		}
	}
	writeShardRanges(w, created)
	return nil
}

// middleHashKey is the first hash key of the upper half of [start, end]:
// start + ceil((end-start)/2). ok is false for a range of one key.
func middleHashKey(start, end api.HashKey) (api.HashKey, bool) {
	w := end.Sub(start) // the range's size minus one
	half := api.HashKey{Hi: w.Hi >> 1, Lo: w.Lo>>1 | w.Hi<<63}
	if w.Lo&1 == 1 {
		half = half.Inc()
	}
	if half == (api.HashKey{}) {
		return api.HashKey{}, false
	}
	mid, _ := start.Add(half)
	return mid, true
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func formatTags(tags map[string]string) string {
	if len(tags) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(tags[k])
	}
	return strings.Join(parts, " ")
}
