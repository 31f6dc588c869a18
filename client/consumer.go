package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/kpl"
	"github.com/sluicedb/sluice/wire"
)

// ConsumerOptions configures a Consumer.
type ConsumerOptions struct {
	// Stream is the stream to read. Required.
	Stream string
	// ShardID, if set, follows that shard alone: Next returns io.EOF after
	// its last record if it is (or becomes) closed. Empty follows the whole
	// stream, through every split and merge.
	ShardID string
	// Start is where reading starts; default TRIM_HORIZON. For the whole
	// stream, TRIM_HORIZON and AT_TIMESTAMP start at the oldest shards and
	// walk their lineage; LATEST starts at the tip of the shards open now;
	// AT_ and AFTER_SEQUENCE_NUMBER need ShardID. Shards entered through
	// lineage start at their beginning (AT_TIMESTAMP: at the timestamp).
	Start api.IteratorSpec
	// Window is each shard subscription's credit (see SubscribeOptions);
	// default 1 MiB.
	Window int
	// KeepAggregates delivers KPL aggregates (package kpl) as the stored
	// records they are. By default each is de-aggregated: Next returns its
	// user records one by one, each with its own partition key and
	// sub-sequence number, whatever shard its hash key now belongs to. A
	// record that is not a valid aggregate is delivered as it is either way.
	KeepAggregates bool
}

// ConsumerRecord is one record and the shard it came from. For a user
// record de-aggregated from a KPL aggregate, Key and Data are the user
// record's, Seq and Arrival the stored record's, and Aggregated is set.
type ConsumerRecord struct {
	ShardID string
	Record
	// Aggregated is set for a user record of a KPL aggregate: SubSeq is its
	// 0-based index in the stored record Seq, ExplicitHashKey its explicit
	// hash key as the producer gave it (a decimal; nil if none).
	Aggregated      bool
	SubSeq          int
	ExplicitHashKey []byte
}

// Consumer follows one shard or a whole stream over subscriptions,
// delivering each shard's records in order and every parent shard's records
// before its children's (a child starts only once all its parents have been
// read to their end), so that per-key order holds across resharding. Next
// is for one goroutine at a time; Close may be called from any.
type Consumer struct {
	client *Client
	opts   ConsumerOptions
	ctx    context.Context
	cancel context.CancelFunc
	out    chan consumerBatch
	wg     sync.WaitGroup

	// mu guards the lineage state below.
	mu      sync.Mutex
	shards  map[string]api.ShardInfo // the stream's shards as last listed
	initial map[string]bool          // the shards the consumer started from
	started map[string]bool
	done    map[string]bool

	// Owned by the goroutine calling Next.
	cur  consumerBatch
	idx  int
	subs []kpl.Record // the user records of cur.ev.Records[idx-1], reused
	sub  int          // the next of subs to deliver
	err  error
}

// consumerBatch is what a shard goroutine hands to Next: an event's
// records, the end of a single-shard consumer, or an error.
type consumerBatch struct {
	shard string
	ev    *Event
	end   bool
	err   error
}

// NewConsumer starts following opts.Stream (or opts.ShardID) on c.
func NewConsumer(ctx context.Context, c *Client, opts ConsumerOptions) (*Consumer, error) {
	if opts.Stream == "" {
		return nil, errors.New("wire: ConsumerOptions.Stream is empty; name the stream to read")
	}
	if opts.Start.Type == "" {
		opts.Start.Type = api.TrimHorizon
	}
	if opts.ShardID == "" && (opts.Start.Type == api.AtSequenceNumber || opts.Start.Type == api.AfterSequenceNumber) {
		return nil, &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
			Message: fmt.Sprintf("starting %s needs a shard: a sequence number belongs to one shard; set ConsumerOptions.ShardID", opts.Start.Type)}
	}
	k := &Consumer{
		client: c, opts: opts, out: make(chan consumerBatch, 4),
		initial: map[string]bool{}, started: map[string]bool{}, done: map[string]bool{},
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	if opts.ShardID != "" {
		id, err := api.ParseShardID(opts.ShardID)
		if err != nil {
			k.cancel()
			return nil, err
		}
		pos, err := c.GetIterator(ctx, opts.Stream, api.ShardID(id), opts.Start)
		if err != nil {
			k.cancel()
			return nil, err
		}
		k.startShard(api.ShardID(id), &pos, api.IteratorSpec{})
		return k, nil
	}
	shards, err := c.ListShards(ctx, opts.Stream)
	if err != nil {
		k.cancel()
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.setShards(shards)
	present := k.shards
	for _, s := range shards {
		switch opts.Start.Type {
		case api.Latest:
			if !s.Closed {
				k.initial[s.ID] = true
			}
		default:
			_, p1 := present[s.Parent]
			_, p2 := present[s.AdjacentParent]
			if !p1 && !p2 {
				k.initial[s.ID] = true
			}
		}
	}
	// Resolve the starting positions now, so that a LATEST consumer sees
	// every record put after NewConsumer returns.
	positions := make(map[string]api.Position, len(k.initial))
	for id := range k.initial {
		pos, err := c.GetIterator(ctx, opts.Stream, id, opts.Start)
		if err != nil {
			k.cancel()
			return nil, err
		}
		positions[id] = pos
	}
	for id, pos := range positions {
		k.startShard(id, &pos, api.IteratorSpec{})
	}
	return k, nil
}

// setShards replaces the lineage map. Called with mu held.
func (k *Consumer) setShards(shards []api.ShardInfo) {
	k.shards = make(map[string]api.ShardInfo, len(shards))
	for _, s := range shards {
		k.shards[s.ID] = s
	}
}

// inScope reports whether the consumer follows shard id: a starting shard
// or a descendant of one. Called with mu held.
func (k *Consumer) inScope(id string, depth int) bool {
	if k.initial[id] || k.started[id] {
		return true
	}
	s, ok := k.shards[id]
	if !ok || depth > len(k.shards) {
		return false
	}
	return s.Parent != "" && k.inScope(s.Parent, depth+1) || s.AdjacentParent != "" && k.inScope(s.AdjacentParent, depth+1)
}

// startShard starts a goroutine following shard id from pos, or from spec
// if pos is nil. Called with mu held (or before the consumer is shared).
func (k *Consumer) startShard(id string, pos *api.Position, spec api.IteratorSpec) {
	k.started[id] = true
	k.wg.Add(1)
	go k.follow(id, pos, spec)
}

// follow is the goroutine of one shard: it subscribes from pos (or the
// position of spec) and hands
// each event to Next in order. At the shard's end it records the shard
// done and starts every child whose parents are all done; the parent's
// records are already queued ahead of anything the child sends.
func (k *Consumer) follow(id string, pos *api.Position, spec api.IteratorSpec) {
	defer k.wg.Done()
	if pos == nil {
		p, err := k.client.GetIterator(k.ctx, k.opts.Stream, id, spec)
		if err != nil {
			k.send(consumerBatch{shard: id, err: fmt.Errorf("start %s: %w", id, err)})
			return
		}
		pos = &p
	}
	sub, err := k.client.Subscribe(k.ctx, *pos, SubscribeOptions{Window: k.opts.Window})
	if err != nil {
		k.send(consumerBatch{shard: id, err: fmt.Errorf("subscribe to %s: %w", id, err)})
		return
	}
	defer sub.Close()
	for {
		ev, err := sub.Next(k.ctx)
		if err != nil {
			if err == io.EOF {
				err = fmt.Errorf("%w: the subscription to %s ended before the shard's end", wire.ErrConnectionLost, id)
			}
			k.send(consumerBatch{shard: id, err: fmt.Errorf("follow %s: %w", id, err)})
			return
		}
		if len(ev.Records) > 0 && !k.send(consumerBatch{shard: id, ev: ev}) {
			return
		}
		if ev.ShardEnd {
			if k.opts.ShardID != "" {
				k.send(consumerBatch{shard: id, end: true})
				return
			}
			if err := k.shardDone(id, ev.ChildShards); err != nil {
				k.send(consumerBatch{shard: id, err: err})
			}
			return
		}
	}
}

// send hands a batch to Next; false if the consumer closed.
func (k *Consumer) send(b consumerBatch) bool {
	select {
	case k.out <- b:
		return true
	case <-k.ctx.Done():
		return false
	}
}

// shardDone marks a shard read to its end and starts the children that are
// now ready: in scope, not started, with every in-scope parent done.
func (k *Consumer) shardDone(id string, children []api.ShardInfo) error {
	shards, err := k.client.ListShards(k.ctx, k.opts.Stream)
	if err != nil {
		return fmt.Errorf("list shards after the end of %s: %w", id, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.done[id] = true
	k.setShards(shards)
	for _, c := range children {
		if _, ok := k.shards[c.ID]; !ok {
			k.shards[c.ID] = c
		}
	}
	ids := make([]string, 0, len(k.shards))
	for sid := range k.shards {
		ids = append(ids, sid)
	}
	sort.Strings(ids)
	for _, sid := range ids {
		s := k.shards[sid]
		if k.started[sid] || !k.inScope(sid, 0) || !k.parentsDone(s) {
			continue
		}
		spec := api.IteratorSpec{Type: api.TrimHorizon}
		if k.opts.Start.Type == api.AtTimestamp {
			spec = k.opts.Start
		}
		k.startShard(sid, nil, spec)
	}
	return nil
}

// parentsDone reports whether every parent of s that the consumer follows
// has been read to its end, and that s has a parent the consumer followed
// (otherwise it is not reached through lineage). Called with mu held.
func (k *Consumer) parentsDone(s api.ShardInfo) bool {
	reached := false
	for _, p := range []string{s.Parent, s.AdjacentParent} {
		if p == "" || !k.inScope(p, 0) {
			continue
		}
		if !k.done[p] {
			return false
		}
		reached = true
	}
	return reached
}

// Next returns the next record, waiting for one. Records of one shard come
// in order, and all of a parent shard's records come before its children's.
// A single-shard consumer returns io.EOF after the end of a closed shard.
// Any other error (a subscription refused or ended by the server, a lost
// connection, a corrupt record) ends the consumer and is returned again by
// every later call.
func (k *Consumer) Next(ctx context.Context) (ConsumerRecord, error) {
	for {
		if k.err != nil {
			return ConsumerRecord{}, k.err
		}
		if k.sub < len(k.subs) {
			u := k.subs[k.sub]
			r := k.cur.ev.Records[k.idx-1]
			r.Key, r.Data = u.PartitionKey, u.Data
			k.sub++
			return ConsumerRecord{ShardID: k.cur.shard, Record: r, Aggregated: true, SubSeq: k.sub - 1, ExplicitHashKey: u.ExplicitHashKey}, nil
		}
		if k.cur.ev != nil && k.idx < len(k.cur.ev.Records) {
			r := k.cur.ev.Records[k.idx]
			k.idx++
			if !k.opts.KeepAggregates && kpl.IsAggregate(r.Data) && k.deaggregate(r.Data) {
				continue
			}
			return ConsumerRecord{ShardID: k.cur.shard, Record: r}, nil
		}
		clear(k.subs)
		k.subs, k.sub = k.subs[:0], 0
		select {
		case b := <-k.out:
			switch {
			case b.err != nil:
				k.err = b.err
				k.cancel()
			case b.end:
				k.err = io.EOF
			default:
				k.cur, k.idx = b, 0
			}
		case <-k.ctx.Done():
			k.err = wire.ErrClosed
		case <-ctx.Done():
			return ConsumerRecord{}, ctx.Err()
		}
	}
}

// deaggregate reads the user records of an aggregate into k.subs (their
// slices alias data); false if data is not a valid aggregate.
func (k *Consumer) deaggregate(data []byte) bool {
	k.subs, k.sub = k.subs[:0], 0
	return kpl.Deaggregate(data, func(_ int, r kpl.Record) bool {
		k.subs = append(k.subs, r)
		return true
	})
}

// Close stops the consumer's subscriptions and waits for its goroutines.
// The Client stays open.
func (k *Consumer) Close() error {
	k.cancel()
	k.wg.Wait()
	return nil
}
