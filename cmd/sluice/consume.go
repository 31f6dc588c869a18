package main

import (
	"bufio"
	"context"
	"fmt"
	"sync"

	"github.com/sluicedb/sluice/client"
)

const consumeAbout = `Joins a consumer group of a stream as one member and prints the records of the shards the server
leases to it, until Ctrl-C; then it hands its shards over and leaves. Start several (on one machine or
many) with the same --group to share the stream's shards: each record is printed by one member, and a
member's shards go to the others when it stops or dies (after the group's failover time).

Each batch is checkpointed once it is printed and flushed, so a member that takes a shard over starts after
the last record printed; records printed but not yet checkpointed when a member dies are printed again.

--output text prints each record's data followed by a newline; --output json prints one JSON object per
line as sluice get -o json does, plus "subsequence" for a user record of a KPL aggregate.`

func consumeMain(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("consume", "STREAM --group NAME [flags]", consumeAbout)
	group := f.String("group", "", "the consumer group to join (created by the first member)")
	member := f.String("member", "", "this member's name (default: host name, process id and a random suffix)")
	failover := f.Duration("failover", 0, "a new group's failover time: how long a member may be silent before its shards go to others (default 10s)")
	from := f.String("from", "trim-horizon", "where a new group starts: trim-horizon or latest")
	output := f.String("output", "text", "text (each record's data and a newline) or json (one object per record)")
	f.StringVar(output, "o", "text", "short for --output")
	pos, err := f.parse(args, 1, 1, "stream name")
	if err != nil {
		return err
	}
	if *group == "" {
		return usagef(f.cmd, "--group is required: name the consumer group to join")
	}
	var json bool
	switch *output {
	case "text":
	case "json":
		json = true
	default:
		return usagef(f.cmd, "--output %q: want text or json", *output)
	}
	var latest bool
	switch *from {
	case "trim-horizon", "TRIM_HORIZON":
	case "latest", "LATEST":
		latest = true
	default:
		return usagef(f.cmd, "--from %q: want trim-horizon or latest", *from)
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	gc, err := client.NewGroupConsumer(c, client.GroupConsumerOptions{Stream: pos[0], Group: *group, Member: *member,
		FailoverTime: *failover, StartAtLatest: latest, ManualCheckpoint: true,
		OnError: func(shard string, err error) {
			fmt.Fprintf(a.stderr, "sluice: reading %s stopped (%v); it starts again from its checkpoint at the next heartbeat\n", shard, err)
		}})
	if err != nil {
		return err
	}
	pr := &groupPrinter{w: bufio.NewWriterSize(a.stdout, 64<<10), json: json}
	err = gc.Run(ctx, func(hctx context.Context, b *client.GroupBatch) error {
		if err := pr.printBatch(b); err != nil {
			return err
		}
		return b.Checkpoint(hctx)
	})
	if ferr := pr.flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write output: %w", ferr)
	}
	if err != nil && client.IsLeaseLost(err) {
		return nil
	}
	return err
}

// groupPrinter prints the batches of every shard's handler, one batch at a
// time, flushed before the batch is checkpointed.
type groupPrinter struct {
	mu   sync.Mutex // guards w and buf
	w    *bufio.Writer
	json bool
	buf  []byte
}

func (p *groupPrinter) printBatch(b *client.GroupBatch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range b.Records {
		r := &b.Records[i]
		if p.json {
			// As get -o json prints it: a user record of an aggregate
			// with its own key and "subsequence".
			rec := client.Record{Seq: r.Seq, Arrival: r.Arrival, Key: r.PartitionKey, Data: r.Data}
			sub := -1
			if r.Aggregated {
				sub = int(r.SubSeq)
			}
			p.buf = appendRecordJSON(p.buf[:0], &rec, sub)
			if _, err := p.w.Write(p.buf); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			continue
		}
		if _, err := p.w.Write(r.Data); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		if err := p.w.WriteByte('\n'); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func (p *groupPrinter) flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.w.Flush()
}
