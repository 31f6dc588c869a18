package soak

import (
	"bytes"
	"context"
	"fmt"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// readBack is what reading every shard of the stream found.
type readBack struct {
	stored    int      // records read
	unacked   int      // records read that no producer saw acknowledged
	missing   int      // acknowledged records not read, or read with other contents
	problems  []string // the first few missing, foreign or corrupt records
	problemsN int
}

func (r *readBack) problem(format string, args ...any) {
	r.problemsN++
	if len(r.problems) < 10 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// verify reads every shard of stream from its start through the Go client
// and checks it against acks: every acknowledged record must be stored at
// its sequence number with its key and data, byte for byte, and every
// stored record must be one a producer sent.
func verify(ctx context.Context, addr, stream string, acks *ackLog) (*readBack, error) {
	cl, err := client.Dial(ctx, addr, client.ClientOptions{})
	if err != nil {
		return nil, fmt.Errorf("dial to read back: %w", err)
	}
	defer cl.Close()
	shards, err := cl.ListShards(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("list shards to read back: %w", err)
	}
	rb := &readBack{}
	stored := map[api.SeqNum]recordID{}
	var res client.ReadResult
	defer res.Release()
	for _, sh := range shards {
		pos, err := cl.GetIterator(ctx, stream, sh.ID, api.IteratorSpec{Type: api.TrimHorizon})
		if err != nil {
			return nil, fmt.Errorf("read back %s: %w", sh.ID, err)
		}
		for {
			if err := cl.ReadInto(ctx, pos, 0, 0, &res); err != nil {
				return nil, fmt.Errorf("read back %s at %d: %w", sh.ID, pos.Seq, err)
			}
			for _, r := range res.Records {
				rb.stored++
				id, ok := parseKey(r.Key)
				if !ok {
					rb.problem("%s holds a record at %v with key %q, which no producer sent", sh.ID, r.Seq, r.Key)
					continue
				}
				if _, data := payload(id); !bytes.Equal(data, r.Data) {
					rb.problem("%s holds record %v of producer %d at %v with %d bytes of data that differ from the %d sent", sh.ID, id.n, id.p, r.Seq, len(r.Data), len(data))
					continue
				}
				stored[r.Seq] = id
			}
			pos = res.Next
			if len(res.Records) == 0 || res.ShardEnd {
				break
			}
		}
	}
	acks.mu.Lock()
	defer acks.mu.Unlock()
	for seq, id := range acks.acks {
		got, ok := stored[seq]
		switch {
		case !ok:
			rb.missing++
			rb.problem("record %d of producer %d was acknowledged at %v and is not stored", id.n, id.p, seq)
		case got != id:
			rb.missing++
			rb.problem("record %d of producer %d was acknowledged at %v, where record %d of producer %d is stored", id.n, id.p, seq, got.n, got.p)
		}
	}
	for seq := range stored {
		if _, ok := acks.acks[seq]; !ok {
			rb.unacked++
		}
	}
	for _, d := range acks.dups {
		rb.problem("%s", d)
	}
	return rb, nil
}
