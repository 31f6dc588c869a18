package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/kpl"
	"github.com/sluicedb/sluice/wire"
)

// GroupConsumerOptions configures a GroupConsumer.
type GroupConsumerOptions struct {
	// Stream and Group name the group to join; required.
	Stream, Group string
	// Member names this member; default host name, process id and a
	// random suffix. Two live members must not share a name.
	Member string
	// FailoverTime and StartAtLatest configure the group if the join
	// creates it (see JoinGroupOptions).
	FailoverTime  time.Duration
	StartAtLatest bool
	// ManualCheckpoint leaves checkpoints to the handler (GroupBatch's
	// Checkpoint); by default each batch is checkpointed after the handler
	// returns nil. Either way a shard read to its end is checkpointed at
	// SHARD_END once its last batch is handled, so its children can start.
	ManualCheckpoint bool
	// Window is each shard subscription's credit; default 1 MiB.
	Window int
	// HeartbeatInterval overrides the interval the server asks for (a
	// third of the group's failover time); 0 keeps it.
	HeartbeatInterval time.Duration
	// OnError, if set, is told why a shard's reading stopped early (a
	// lost connection, a refused read); the shard is started again from
	// its checkpoint at the next heartbeat while the lease is held.
	OnError func(shard string, err error)
}

// GroupRecord is one user record: a Kinesis record, or one of the user
// records of a KPL aggregate (Aggregated, with SubSeq its index).
type GroupRecord struct {
	Seq          api.SeqNum
	SubSeq       uint64
	Aggregated   bool
	Arrival      time.Time
	PartitionKey []byte
	// ExplicitHashKey is a sub-record's own explicit hash key, nil if none.
	ExplicitHashKey []byte
	Data            []byte
	// last says this is the last user record of its Kinesis record.
	last bool
}

// GroupBatch is one batch of a shard's records, in order. Its records are
// valid until the handler returns.
type GroupBatch struct {
	Stream, Group, Shard string
	// Epoch is the lease's fencing epoch.
	Epoch   uint64
	Records []GroupRecord
	// MillisBehind is how far the batch's end is behind the shard's tip.
	MillisBehind int64
	// ShardEnd says the batch ends a closed shard.
	ShardEnd bool

	w *shardWorker
}

// Checkpoint records the whole batch as processed (SHARD_END for the last
// batch of a closed shard). It fails with an error IsLeaseLost reports when
// the lease has gone to another member.
func (b *GroupBatch) Checkpoint(ctx context.Context) error {
	if len(b.Records) == 0 && !b.ShardEnd {
		return nil
	}
	if b.ShardEnd {
		return b.w.checkpoint(ctx, GroupCheckpoint{ShardEnd: true}, false)
	}
	return b.CheckpointAt(ctx, b.Records[len(b.Records)-1])
}

// CheckpointAt records every record up to r (one of the batch's) as
// processed.
func (b *GroupBatch) CheckpointAt(ctx context.Context, r GroupRecord) error {
	return b.w.checkpoint(ctx, checkpointOf(r), false)
}

func checkpointOf(r GroupRecord) GroupCheckpoint {
	return GroupCheckpoint{Seq: r.Seq.String(), SubSeq: r.SubSeq, Whole: r.last}
}

// GroupHandler processes one batch. A non-nil error stops the consumer:
// Run returns it, and the batch is not checkpointed. ctx is cancelled when
// the lease is lost; the handler should then stop early.
type GroupHandler func(ctx context.Context, b *GroupBatch) error

// IsLeaseLost reports whether err is the refusal of a checkpoint from a
// member that no longer holds the shard's lease.
func IsLeaseLost(err error) bool {
	var e *wire.Error
	return errors.As(err, &e) && e.Code == api.CodeResourceInUse && strings.HasPrefix(e.Message, "lease lost")
}

// GroupConsumer is one member of a consumer group: the server gives it
// leases on some of the stream's shards, and Run reads each leased shard
// on a subscription, calling the handler with its batches in order (one
// batch of a shard at a time; shards in parallel), checkpointing after
// each, until the lease moves. Delivery is at least once: after a failover
// the new owner starts at the last checkpoint.
type GroupConsumer struct {
	c    *Client
	opts GroupConsumerOptions
}

// NewGroupConsumer makes a member; Run joins the group.
func NewGroupConsumer(c *Client, opts GroupConsumerOptions) (*GroupConsumer, error) {
	if opts.Stream == "" || opts.Group == "" {
		return nil, errors.New("client: GroupConsumerOptions needs Stream and Group")
	}
	if opts.Member == "" {
		host, _ := os.Hostname()
		opts.Member = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), strconv.FormatUint(rand.Uint64()%(1<<40), 36))
	}
	return &GroupConsumer{c: c, opts: opts}, nil
}

// Member is the member's name.
func (g *GroupConsumer) Member() string { return g.opts.Member }

// shardWorker processes one leased shard.
type shardWorker struct {
	g       *GroupConsumer
	handler GroupHandler
	lease   GroupLease
	ctx     context.Context    // the handler's: cancelled when the lease is lost
	cancel  context.CancelFunc // lease lost, or Run's end
	// release is closed to ask for a graceful release: finish the batch
	// in hand, checkpoint, give the lease up.
	release     chan struct{}
	releaseOnce sync.Once
	done        chan struct{}
	err         error // set before done closes: a handler's error
	readErr     error // set before done closes: why reading stopped early
	// last is the last checkpoint written (or the lease's), for the
	// release; owned by the worker's goroutine.
	last GroupCheckpoint
	kick func() // ask Run for a heartbeat now
}

func (w *shardWorker) checkpoint(ctx context.Context, cp GroupCheckpoint, release bool) error {
	o := &w.g.opts
	err := w.g.c.CheckpointGroup(ctx, o.Stream, o.Group, o.Member, w.lease.Shard, w.lease.Epoch, cp, release)
	if err == nil && cp != (GroupCheckpoint{}) {
		w.last = cp
	}
	if IsLeaseLost(err) {
		w.cancel()
	}
	return err
}

func (w *shardWorker) askRelease() { w.releaseOnce.Do(func() { close(w.release) }) }

// run reads the shard from the lease's checkpoint and hands batches to the
// handler until the shard ends, the lease is lost (ctx cancelled) or a
// release is asked (then it checkpoints and releases).
func (w *shardWorker) run() {
	defer close(w.done)
	defer w.cancel()
	o := &w.g.opts
	cp := w.lease.Checkpoint
	w.last = cp
	if cp.ShardEnd {
		w.checkpoint(context.Background(), GroupCheckpoint{}, true)
		return
	}
	spec := api.IteratorSpec{Type: api.TrimHorizon}
	skip := int64(-1) // sub-records of the first record to skip, through this one
	switch {
	case cp.Seq != "" && cp.Whole:
		spec = api.IteratorSpec{Type: api.AfterSequenceNumber, Seq: cp.Seq}
	case cp.Seq != "":
		spec = api.IteratorSpec{Type: api.AtSequenceNumber, Seq: cp.Seq}
		skip = int64(cp.SubSeq)
	}
	// Reading stops on a release as well as on a lost lease; the handler's
	// context only on a lost lease, so the batch in hand finishes.
	rctx, rcancel := context.WithCancel(w.ctx)
	defer rcancel()
	go func() {
		select {
		case <-w.release:
			rcancel()
		case <-rctx.Done():
		}
	}()
	sub, err := w.g.c.SubscribeShard(rctx, o.Stream, w.lease.Shard, spec, SubscribeOptions{Window: o.Window})
	if err != nil {
		w.finish(err)
		return
	}
	defer sub.Close()
	var recs []GroupRecord
	for {
		// Next returns queued events without looking at its context: a
		// release or a lost lease is checked here.
		err := rctx.Err()
		var ev *Event
		if err == nil {
			ev, err = sub.Next(rctx)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: the subscription to %s ended before the shard's end", wire.ErrConnectionLost, w.lease.Shard)
			}
			w.finish(err)
			return
		}
		recs = appendUserRecords(recs[:0], ev.Records, &skip)
		end := ev.ShardEnd
		b := GroupBatch{Stream: o.Stream, Group: o.Group, Shard: w.lease.Shard, Epoch: w.lease.Epoch,
			Records: recs, MillisBehind: ev.MillisBehind, ShardEnd: end, w: w}
		if len(recs) > 0 || end {
			if err := w.handler(w.ctx, &b); err != nil {
				ev.Release()
				if w.ctx.Err() == nil {
					w.err = err
				}
				return
			}
			if !o.ManualCheckpoint && len(recs) > 0 && !end {
				if err := b.Checkpoint(w.ctx); err != nil {
					ev.Release()
					w.finish(err)
					return
				}
			}
		}
		// The event goes back to a pool shared by every subscription.
		ev.Release()
		if end {
			if err := w.checkpoint(w.ctx, GroupCheckpoint{ShardEnd: true}, false); err != nil {
				w.finish(err)
				return
			}
			w.kick()
			return
		}
	}
}

// finish ends the worker after a read or checkpoint error: a release
// asked for is carried out, a lost lease or a cancelled Run just stops,
// and anything else (a lost connection, a refused read) is kept in
// readErr for Run, which starts the shard again at the next heartbeat if
// the lease is still held.
func (w *shardWorker) finish(err error) {
	select {
	case <-w.release:
		if w.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cp := w.last
			if cp == w.lease.Checkpoint {
				cp = GroupCheckpoint{} // nothing new: release only
			}
			w.checkpoint(ctx, cp, true)
		}
		return
	default:
	}
	if w.ctx.Err() == nil {
		w.readErr = err
	}
}

// appendUserRecords appends the user records of recs to out, de-aggregating
// KPL aggregates, and skipping the first record's sub-records through
// *skip (then clearing it).
func appendUserRecords(out []GroupRecord, recs []Record, skip *int64) []GroupRecord {
	for i := range recs {
		r := &recs[i]
		through := int64(-1)
		if i == 0 {
			through, *skip = *skip, -1
		}
		n := len(out)
		if kpl.IsAggregate(r.Data) && kpl.Deaggregate(r.Data, func(sub int, u kpl.Record) bool {
			if int64(sub) > through {
				out = append(out, GroupRecord{Seq: r.Seq, SubSeq: uint64(sub), Aggregated: true, Arrival: r.Arrival,
					PartitionKey: u.PartitionKey, ExplicitHashKey: u.ExplicitHashKey, Data: u.Data})
			}
			return true
		}) {
			if len(out) > n {
				out[len(out)-1].last = true
			}
			continue
		}
		if through >= 0 {
			continue
		}
		out = append(out, GroupRecord{Seq: r.Seq, Arrival: r.Arrival, PartitionKey: r.Key, Data: r.Data, last: true})
	}
	return out
}

func (g *GroupConsumer) interval(a *GroupAssignment) time.Duration {
	if g.opts.HeartbeatInterval > 0 {
		return g.opts.HeartbeatInterval
	}
	return max(time.Duration(a.HeartbeatMillis)*time.Millisecond, 10*time.Millisecond)
}

// Run joins the group and processes leased shards with handler until ctx
// is cancelled (then it hands every lease over gracefully, leaves the group
// and returns nil), a handler fails (its error is returned), or the group
// is deleted.
func (g *GroupConsumer) Run(ctx context.Context, handler GroupHandler) error {
	o := &g.opts
	a, err := g.c.JoinGroup(ctx, o.Stream, o.Group, o.Member, JoinGroupOptions{FailoverTime: o.FailoverTime, StartAtLatest: o.StartAtLatest})
	if err != nil {
		return err
	}
	workers := map[string]*shardWorker{}
	exited := make(chan *shardWorker)
	quit := make(chan struct{})
	defer close(quit)
	kick := make(chan struct{}, 1)
	kickFn := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	lastOK := time.Now()
	failover := time.Duration(a.FailoverMillis) * time.Millisecond
	interval := g.interval(a)
	timer := time.NewTimer(interval)
	defer timer.Stop()
	stopAll := func() {
		for _, w := range workers {
			w.cancel()
		}
		for _, w := range workers {
			<-w.done
		}
	}
	var runErr error
	for {
		if a != nil {
			held := map[string]bool{}
			for _, l := range a.Leases {
				held[l.Shard] = true
				w := workers[l.Shard]
				if w != nil && w.lease.Epoch != l.Epoch {
					// The lease went away and came back: the old worker's
					// checkpoints would be refused.
					w.cancel()
					<-w.done
					delete(workers, l.Shard)
					w = nil
				}
				if w == nil {
					wctx, cancel := context.WithCancel(context.Background())
					w = &shardWorker{g: g, handler: handler, lease: l, ctx: wctx, cancel: cancel,
						release: make(chan struct{}), done: make(chan struct{}), kick: kickFn}
					workers[l.Shard] = w
					go func() {
						w.run()
						select {
						case exited <- w:
						case <-quit:
						}
					}()
				}
				if l.Release {
					w.askRelease()
				}
			}
			for id, w := range workers {
				if !held[id] {
					w.cancel() // lost: stop at once
				}
			}
		}
		a = nil
		select {
		case <-ctx.Done():
			runErr = nil
		case w := <-exited:
			if workers[w.lease.Shard] == w {
				delete(workers, w.lease.Shard)
			}
			if w.err != nil {
				runErr = w.err
				break
			}
			if w.readErr != nil {
				// Retried at the next heartbeat, not at once.
				if o.OnError != nil {
					o.OnError(w.lease.Shard, w.readErr)
				}
				continue
			}
			kickFn()
			continue
		case <-kick:
		case <-timer.C:
		}
		if ctx.Err() != nil || runErr != nil {
			break
		}
		hctx, cancel := context.WithTimeout(ctx, failover)
		next, err := g.c.GroupHeartbeat(hctx, o.Stream, o.Group, o.Member)
		cancel()
		switch {
		case err == nil:
			a, lastOK = next, time.Now()
			failover = time.Duration(next.FailoverMillis) * time.Millisecond
			interval = g.interval(next)
		case errors.Is(err, api.ErrNotFound):
			stopAll()
			return fmt.Errorf("consumer group %s of stream %s: %w", o.Group, o.Stream, err)
		case errors.Is(err, wire.ErrClosed) || errors.Is(err, wire.ErrConnectionLost):
			// The client's connection is gone for good (a Client does not
			// dial again): no heartbeat can get through any more.
			stopAll()
			return fmt.Errorf("consumer group %s of stream %s: %w", o.Group, o.Stream, err)
		case time.Since(lastOK) > failover:
			// The server has given our leases away by now.
			stopAll()
			workers = map[string]*shardWorker{}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(interval)
	}
	// Hand over: every worker finishes its batch, checkpoints and releases
	// (within the failover time), then the member leaves.
	for _, w := range workers {
		w.askRelease()
	}
	deadline := time.NewTimer(failover)
	defer deadline.Stop()
	for _, w := range workers {
		select {
		case <-w.done:
		case <-deadline.C:
			stopAll()
		}
	}
	stopAll()
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.c.LeaveGroup(lctx, o.Stream, o.Group, o.Member); err != nil && runErr == nil && !errors.Is(err, api.ErrNotFound) {
		return err
	}
	return runErr
}
