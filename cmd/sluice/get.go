package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

const getAbout = `Reads a stream's records. Without --follow it prints the records that are in the stream when it starts
and exits: every shard in turn, oldest shards first, so that a parent shard's records come before its
children's. With --follow it keeps printing records as they arrive, like tail -f, following the stream
through splits and merges (all of a parent's records before its children's), until Ctrl-C.

--from says where each shard starts: trim-horizon (its oldest record; the default without --follow),
latest (only records put from now on; the default with --follow), a sequence number (that record and
those after it, in its own shard), after:SEQUENCE (the records after it), an RFC 3339 time such as
2024-05-01T12:00:00Z, or -DURATION for that long ago (-15m).

--output text prints each record's data followed by a newline. --output json prints one JSON object per
line: {"shard", "sequence" (decimal string), "arrival" (RFC 3339, UTC), "key", and "data" with the data
as a JSON string if it is valid UTF-8, or "data_base64" with it in standard base64 otherwise}.

A record holding a KPL aggregate (what the Kinesis Producer Library, AWS Labs' aggregation libraries and
sluice put --aggregate write) is printed as its user records, each with its own key and data and, in
JSON, "subsequence" (its 0-based index in the aggregate, whose "sequence" it shares). A record that is
not a valid aggregate is printed as it is. --keep-aggregates prints aggregates as stored.`

// getOptions are the parsed flags of `sluice get`.
type getOptions struct {
	stream string
	shard  string // "" for the whole stream
	spec   api.IteratorSpec
	follow bool
	limit  int
	json   bool
	keep   bool // --keep-aggregates
}

func getMain(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("get", "STREAM [flags]", getAbout)
	shard := f.String("shard", "all", "a shard id (shardId-000000000001) or index (1), or all")
	from := f.String("from", "", "where to start: trim-horizon, latest, SEQUENCE, after:SEQUENCE, an RFC 3339 time, or -DURATION")
	follow := f.Bool("follow", false, "keep printing records as they arrive until Ctrl-C")
	f.BoolVar(follow, "f", false, "short for --follow")
	limit := f.Int("limit", 0, "stop after this many records (0: no limit)")
	keep := f.Bool("keep-aggregates", false, "print KPL aggregates as stored instead of as their user records")
	output := f.String("output", "text", "text (each record's data and a newline) or json (one object per record)")
	f.StringVar(output, "o", "text", "short for --output")
	pos, err := f.parse(args, 1, 1, "stream name")
	if err != nil {
		return err
	}
	o := getOptions{stream: pos[0], follow: *follow, limit: *limit, keep: *keep}
	switch *output {
	case "text":
	case "json":
		o.json = true
	default:
		return usagef(f.cmd, "--output %q: want text or json", *output)
	}
	if *limit < 0 {
		return usagef(f.cmd, "--limit %d: want 0 (no limit) or more", *limit)
	}
	spec, seqShard, err := parseFrom(*from, *follow, time.Now())
	if err != nil {
		return usagef(f.cmd, "%v", err)
	}
	o.spec = spec
	if *shard != "all" && *shard != "" {
		if o.shard, err = canonicalShardID(f.cmd, *shard); err != nil {
			return err
		}
	}
	if seqShard != "" {
		if o.shard != "" && o.shard != seqShard {
			return usagef(f.cmd, "--from %s is a sequence number of %s, not of --shard %s", spec.Seq, seqShard, o.shard)
		}
		o.shard = seqShard
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	pr := newPrinter(a.stdout, o.json)
	if o.follow {
		err = a.follow(ctx, c, o, pr)
	} else {
		err = a.readAll(ctx, c, o, pr)
	}
	if ferr := pr.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write output: %w", ferr)
	}
	return err
}

// parseFrom reads --from. For a sequence number it also returns the shard
// the number belongs to.
func parseFrom(s string, follow bool, now time.Time) (api.IteratorSpec, string, error) {
	norm := strings.ToLower(strings.ReplaceAll(s, "_", "-"))
	switch {
	case s == "" && follow, norm == "latest":
		return api.IteratorSpec{Type: api.Latest}, "", nil
	case s == "", norm == "trim-horizon", norm == "oldest":
		return api.IteratorSpec{Type: api.TrimHorizon}, "", nil
	case strings.HasPrefix(norm, "after:"):
		seq, err := api.ParseSeqNum(s[len("after:"):])
		if err != nil {
			return api.IteratorSpec{}, "", fmt.Errorf("--from %q: %v", s, err)
		}
		return api.IteratorSpec{Type: api.AfterSequenceNumber, Seq: seq.String()}, api.ShardID(int(seq.Shard)), nil
	case isDigits(s):
		seq, err := api.ParseSeqNum(s)
		if err != nil {
			return api.IteratorSpec{}, "", fmt.Errorf("--from %q: %v", s, err)
		}
		return api.IteratorSpec{Type: api.AtSequenceNumber, Seq: seq.String()}, api.ShardID(int(seq.Shard)), nil
	case strings.HasPrefix(s, "-"):
		d, err := time.ParseDuration(s[1:])
		if err != nil || d < 0 {
			break
		}
		return api.IteratorSpec{Type: api.AtTimestamp, Timestamp: now.Add(-d)}, "", nil
	default:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			break
		}
		return api.IteratorSpec{Type: api.AtTimestamp, Timestamp: t}, "", nil
	}
	return api.IteratorSpec{}, "", fmt.Errorf("--from %q: want trim-horizon, latest, a sequence number, after:SEQUENCE, "+
		"an RFC 3339 time like 2024-05-01T12:00:00Z, or -DURATION like -15m", s)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// readAll prints the records each selected shard holds when it starts,
// shard by shard in index order (a parent's index is below its children's).
func (a *app) readAll(ctx context.Context, c *client.Client, o getOptions, pr *printer) error {
	lctx, cancel := a.callCtx(ctx)
	shards, err := c.ListShards(lctx, o.stream)
	cancel()
	if err != nil {
		return err
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].Index < shards[j].Index })
	if o.shard != "" {
		s := findShard(shards, o.shard)
		if s == nil {
			return fmt.Errorf("stream %s has no shard %s; its shards are %s", o.stream, o.shard, shardList(shards, false))
		}
		shards = []api.ShardInfo{*s}
	}
	printed := 0
	res := &client.ReadResult{}
	defer res.Release()
	for _, s := range shards {
		tip := s.NextSeq // the records present now; later ones are --follow's
		if tip <= s.FirstSeq {
			continue // nothing retained
		}
		ictx, cancel := a.callCtx(ctx)
		pos, err := c.GetIterator(ictx, o.stream, s.ID, o.spec)
		cancel()
		if err != nil {
			return err
		}
		for pos.Seq < tip {
			want := 10000
			if o.limit > 0 {
				want = min(want, o.limit-printed)
			}
			if err := a.readRetrying(ctx, c, pos, want, res); err != nil {
				return err
			}
			for i := range res.Records {
				r := &res.Records[i]
				if r.Seq.Seq >= tip {
					break
				}
				left := 0
				if o.limit > 0 {
					left = o.limit - printed
				}
				n, err := pr.print(r, o.keep, left)
				if err != nil {
					return err
				}
				printed += n
				if o.limit > 0 && printed >= o.limit {
					return nil
				}
			}
			if o.limit > 0 && printed >= o.limit {
				return nil
			}
			if len(res.Records) == 0 || res.ShardEnd {
				break
			}
			pos = res.Next
		}
	}
	return nil
}

// readRetrying reads from pos, waiting and retrying while the shard's read
// quota throttles (as a Kinesis consumer must).
func (a *app) readRetrying(ctx context.Context, c *client.Client, pos api.Position, maxRecords int, res *client.ReadResult) error {
	backoff := 50 * time.Millisecond
	for {
		rctx, cancel := a.callCtx(ctx)
		err := c.ReadInto(rctx, pos, maxRecords, 0, res)
		cancel()
		if err == nil || !errors.Is(err, api.ErrThroughputExceeded) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, time.Second)
	}
}

// follow prints records as they arrive until ctx ends (Ctrl-C: a clean
// stop), --limit is reached, or a followed single shard ends.
func (a *app) follow(ctx context.Context, c *client.Client, o getOptions, pr *printer) error {
	sctx, cancel := a.callCtx(ctx)
	k, err := client.NewConsumer(sctx, c, client.ConsumerOptions{Stream: o.stream, ShardID: o.shard, Start: o.spec, KeepAggregates: o.keep})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer k.Close()
	n := &flushingNext{k: k, w: pr.w}
	defer n.stop()
	printed := 0
	for o.limit == 0 || printed < o.limit {
		rec, err := n.next(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == io.EOF:
			pr.w.Flush()
			fmt.Fprintf(a.stderr, "sluice: %s is closed and all its records were printed; its records continue in its child shards (follow the whole stream to read them)\n", o.shard)
			return nil
		case err != nil:
			return err
		}
		if err := pr.printConsumed(&rec); err != nil {
			return err
		}
		printed++
	}
	return nil
}

// flushingNext takes records from a Consumer and flushes w whenever the
// consumer has had nothing new for flushEvery, so that followed output
// appears promptly without a write per record.
type flushingNext struct {
	k      *client.Consumer
	w      *bufio.Writer
	idle   context.Context // ends flushEvery after output became pending
	cancel context.CancelFunc
	timer  *time.Timer
}

func (n *flushingNext) next(ctx context.Context) (client.ConsumerRecord, error) {
	for {
		if n.w.Buffered() == 0 {
			return n.k.Next(ctx)
		}
		if n.idle == nil {
			n.idle, n.cancel = context.WithCancel(ctx)
			n.timer = time.AfterFunc(flushEvery, n.cancel)
		}
		rec, err := n.k.Next(n.idle)
		if err == nil || ctx.Err() != nil || n.idle.Err() == nil {
			return rec, err
		}
		// The idle timer fired (a consumer error is returned again by the
		// next call): flush, then wait without a timer.
		n.stop()
		if err := n.w.Flush(); err != nil {
			return client.ConsumerRecord{}, fmt.Errorf("write output: %w", err)
		}
	}
}

func (n *flushingNext) stop() {
	if n.idle != nil {
		n.timer.Stop()
		n.cancel()
		n.idle = nil
	}
}
