package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/kpl"
	"github.com/sluicedb/sluice/wire"
)

// NewProducer starts a producer into opts.Stream that sends each shard's
// records to the shard's leader. It fetches the stream's shard map first,
// so a stream that does not exist is an error here. Records are batched
// per shard (MaxBatchRecords, MaxBatchBytes and Linger apply to each
// shard's batch) and retried per the producer's policy (MaxAttempts,
// BackoffBase, BackoffMax) when throttled, when a node answers that it no
// longer leads the shard, when a connection is lost and on an internal
// failure (a replication that failed while leaderships moved). A record
// whose outcome was not known (its connection was lost, or its replication
// failed after it was proposed) may then be stored twice, as with any
// retry of a Kinesis put.
// With Aggregate, user records are aggregated per shard of the map.
func (cl *Cluster) NewProducer(ctx context.Context, opts ProducerOptions) (*Producer, error) {
	if opts.Stream == "" {
		return nil, errors.New("wire: ProducerOptions.Stream is empty; name the stream to put into")
	}
	c, err := cl.Client(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := cl.routes(ctx, opts.Stream); err != nil {
		return nil, fmt.Errorf("fetch the shard map of %s: %w", opts.Stream, err)
	}
	return newProducer(c, opts, cl)
}

// cutByNewestMap makes the newest shard map the one batches are cut by,
// sending the batches cut by the one before. Called with mu held.
func (p *Producer) cutByNewestMap() {
	r := p.slot.Load()
	if r == p.rmap || r == nil {
		return
	}
	p.sealAll()
	p.rmap = r
	p.rcur = make([]*pbatch, len(r.shards)+1)
	if p.opts.Aggregate {
		// Aggregate by the same shards (sealAll emptied the aggregates).
		p.shards = make([]shardAgg, len(r.shards))
		for i, s := range r.shards {
			p.shards[i] = shardAgg{index: int(s.index), start: s.start, end: s.end, agg: kpl.NewAggregator(p.opts.AggregateMaxBytes)}
		}
	}
}

// addRouted adds a record (or an aggregate, which its first user record's
// keys route) to the batch of its shard. Called with mu held.
func (p *Producer) addRouted(key, data []byte, hash api.HashKey, hasHash bool, buffered, users, shard int) {
	h := hash
	if !hasHash {
		h = api.HashPartitionKey(key)
	}
	pos := p.rmap.find(h)
	if pos < 0 {
		pos = len(p.rmap.shards) // no open shard holds it: sent to any node
	}
	p.rpos = pos
	p.cur = p.rcur[pos]
	p.addToBatch(key, data, hash, hasHash, buffered, users, shard)
	p.rcur[pos] = p.cur
	p.cur = nil
}

// startRouted marks the batch just started (cur) with its shard and arms
// the linger if it is not armed: the linger then sends every shard's
// batch. Called with mu held.
func (p *Producer) startRouted() {
	if p.rpos < len(p.rmap.shards) {
		p.cur.routed, p.cur.inc, p.cur.shard = true, p.rmap.inc, p.rmap.shards[p.rpos].index
	}
	p.armLinger()
}

// armLinger arms the linger that sends every shard's batch, unless it is
// armed. Called with mu held.
func (p *Producer) armLinger() {
	if p.opts.Linger > 0 && !p.lingerArmed {
		p.lingerArmed = true
		p.timer.Reset(p.opts.Linger)
	}
}

// sealAll moves every batch being filled, and every aggregate being built,
// to the ready queue. Called with mu held.
func (p *Producer) sealAll() {
	p.flushAggregates()
	p.seal()
	for i, b := range p.rcur {
		if b != nil {
			p.cur = b
			p.seal()
			p.rcur[i] = nil
		}
	}
}

// putRouted resolves every record of b, a batch of one shard (or of records
// no shard of the map held, which go to any node): each attempt
// goes to the shard's leader as the newest map has it, or, when the map
// knows no leader of it (an election, a closed shard), to any node as a
// PutRecords, which that node forwards.
func (p *Producer) putRouted(b *pbatch, results []api.PutResult) {
	cl := p.route
	stream := p.opts.Stream
	pending := b.recs
	again := false // retry at once: the last attempt learned the new leader
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			p.retried.Add(int64(users(pending)))
			if !again {
				if err := p.backoff(attempt); err != nil {
					p.resolve(b, pending, nil, err)
					return
				}
			}
		}
		again = false
		r := p.slot.Load()
		var c *Client
		op := wire.OpPutRecords
		if rt, ok := r.shard(b.shard); b.routed && ok && r.inc == b.inc && rt.addr != "" {
			var err error
			if c, err = cl.conn(p.ctx, rt.addr); err == nil {
				op = wire.OpPutShard
			} else if _, rerr := cl.refresh(p.ctx, stream, r.gen); rerr != nil && p.ctx.Err() != nil {
				p.resolve(b, pending, nil, err)
				return
			}
		}
		if c == nil {
			var err error
			if c, err = cl.Client(p.ctx); err != nil {
				if attempt+1 < p.opts.MaxAttempts && p.ctx.Err() == nil {
					continue
				}
				p.resolve(b, pending, nil, err)
				return
			}
		}
		bb, start := c.frameFor(2 + len(stream) + 8 + 2 + len(b.arena.B) + len(pending)*(1+wire.HashSize+2+4))
		if op == wire.OpPutShard {
			bb.B = wire.AppendPutShardHead(bb.B, stream, b.inc, b.shard)
		} else {
			bb.B = wire.AppendStr(bb.B, stream)
		}
		bb.B = wire.AppendU16(bb.B, uint16(len(pending)))
		for i := range pending {
			r := &pending[i]
			r.attempts++
			rec := api.PutRecord{
				Key:             b.arena.B[r.keyStart:r.keyEnd],
				Data:            b.arena.B[r.keyEnd:r.dataEnd],
				ExplicitHash:    r.hash,
				HasExplicitHash: r.hasHash,
			}
			bb.B = wire.AppendRecord(bb.B, &rec)
		}
		p.requests.Add(1)
		_, err := c.putRecordsFrame(p.ctx, op, bb, start, len(pending), results)
		if err != nil {
			var we *wire.Error
			switch {
			case errors.As(err, &we) && we.Name == wire.NameNotLeader:
				cl.notLeader.Add(1)
				if next := cl.hint(r, b.shard, we.Leader, we.LeaderAddr, c.addr); next == r {
					cl.refresh(p.ctx, stream, r.gen)
				}
				again = attempt == 0 // the first NotLeader is retried at once
			case errors.Is(err, wire.ErrConnectionLost):
				// The records may or may not be stored: retried, they may
				// be stored twice, as with any retry of a lost request.
				cl.refresh(p.ctx, stream, r.gen)
			case !routedRetriable(err):
				p.resolve(b, pending, nil, err)
				return
			}
			if attempt+1 < p.opts.MaxAttempts && p.ctx.Err() == nil {
				continue
			}
			p.resolve(b, pending, nil, err)
			return
		}
		// A record stored in another shard than the map said means the
		// stream was resharded: the map is fetched again before the
		// records are resolved, so that puts after a Flush use it.
		for i := range pending {
			res := &results[i]
			if res.Err == nil && b.routed && (res.Seq.Shard != b.shard || res.Seq.Incarnation != b.inc) {
				cl.refresh(p.ctx, stream, r.gen)
				break
			}
		}
		keep := 0
		for i := range pending {
			res := &results[i]
			if res.Err != nil && routedRetriable(res.Err) && pending[i].attempts < p.opts.MaxAttempts {
				pending[keep] = pending[i]
				keep++
				continue
			}
			p.resolve(b, pending[i:i+1], results[i:i+1], nil)
		}
		pending = pending[:keep]
	}
}

// routedRetriable reports the errors a routed producer retries: those a
// producer retries (retriable).
func routedRetriable(err error) bool { return retriable(err) }
