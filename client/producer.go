package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/kpl"
	"github.com/sluicedb/sluice/wire"
	"github.com/valyala/bytebufferpool"
)

// ProducerOptions configures a Producer. Zero fields take the documented
// defaults.
type ProducerOptions struct {
	// Stream is the stream to put into. Required.
	Stream string
	// MaxBatchRecords bounds the records of one PutRecords request;
	// default and maximum 500.
	MaxBatchRecords int
	// MaxBatchBytes bounds the keys and data of one request; default 1 MiB,
	// at most 10 MiB. A batch is sent when either limit would be passed.
	MaxBatchBytes int
	// Linger is how long a batch that is not full waits for more records
	// before it is sent; default 5 ms; negative sends each batch as soon as
	// a sender is free. Longer lingers make fuller batches under light load
	// at the cost of latency.
	Linger time.Duration
	// MaxInFlight bounds the requests in flight at once; default 4. Records
	// of one key keep their order only with MaxInFlight 1 and no retries.
	MaxInFlight int
	// MaxBuffered bounds the bytes of keys and data put but not yet
	// acknowledged; default 64 MiB. Put blocks at the limit (backpressure).
	MaxBuffered int
	// MaxAttempts bounds the attempts to store a record that was
	// throttled or met an internal failure (a cluster's leadership
	// moving); default 10. A record still refused after them fails with
	// the last error.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the wait before retrying a
	// record: a random duration in [0, min(BackoffMax, BackoffBase·2^n))
	// before the n-th retry ("full jitter"); defaults 50 ms and 2 s.
	BackoffBase, BackoffMax time.Duration
	// OnResult, if set, is called once per record with its final outcome,
	// from the producer's sender goroutines. Key and Data are valid only
	// during the call.
	OnResult func(ProducerResult)
	// Aggregate packs user records bound for the same shard into KPL
	// aggregates (package kpl): one stored record carries many user records,
	// so a shard's limit of 1,000 records a second counts aggregates, and
	// its 1 MiB a second becomes the limit. The producer learns the stream's
	// open shards (ListShards) at its first Put, and again after a put
	// landed in a shard other than the one expected (a reshard). Each
	// aggregate carries its first user record's partition key and explicit
	// hash key, so it is stored in that record's shard; the other user
	// records keep their own keys, which consumers see when they
	// de-aggregate (ConsumerOptions.KeepAggregates). A user record too large
	// to aggregate is put as it is. OnResult is called per user record. A
	// Cluster's producer aggregates by the shards of its shard map instead
	// of listing them.
	// Records wait in their shard's aggregate up to Linger, or until it is
	// full.
	Aggregate bool
	// AggregateMaxBytes bounds each aggregate's data plus partition key;
	// default 51,200 (the KPL's default), at most 1 MiB (the record limit).
	// Larger aggregates take fewer requests and spend a shard's byte quota
	// in bigger steps.
	AggregateMaxBytes int
}

func (o *ProducerOptions) setDefaults() error {
	if o.Stream == "" {
		return errors.New("wire: ProducerOptions.Stream is empty; name the stream to put into")
	}
	if o.MaxBatchRecords <= 0 || o.MaxBatchRecords > api.MaxPutRecords {
		o.MaxBatchRecords = api.MaxPutRecords
	}
	wire.DefaultPositive(&o.MaxBatchBytes, 1<<20)
	o.MaxBatchBytes = min(o.MaxBatchBytes, api.MaxPutBytes)
	wire.DefaultZero(&o.Linger, 5*time.Millisecond)
	wire.DefaultPositive(&o.MaxInFlight, 4)
	wire.DefaultPositive(&o.MaxBuffered, 64<<20)
	wire.DefaultPositive(&o.MaxAttempts, 10)
	wire.DefaultPositive(&o.BackoffBase, 50*time.Millisecond)
	wire.DefaultPositive(&o.BackoffMax, 2*time.Second)
	wire.DefaultPositive(&o.AggregateMaxBytes, 51200)
	o.AggregateMaxBytes = min(o.AggregateMaxBytes, api.DefaultMaxRecord)
	return nil
}

// ProducerResult is the final outcome of one record given to a Producer.
type ProducerResult struct {
	Key, Data []byte
	// Seq is the record's sequence number when Err is nil.
	Seq api.SeqNum
	// Err says why the record was not stored.
	Err error
	// Attempts is how many requests carried the record.
	Attempts int
	// Aggregated is set for a user record put in a KPL aggregate: Seq is the
	// aggregate's, and SubSeq the record's 0-based index in it.
	Aggregated bool
	SubSeq     int
}

// ProducerError summarizes the records that failed since the last Flush.
type ProducerError struct {
	Failed int
	First  error // the first failure
}

func (e *ProducerError) Error() string {
	return fmt.Sprintf("wire: %d records failed; the first: %v", e.Failed, e.First)
}

func (e *ProducerError) Unwrap() error { return e.First }

// ProducerStats counts a producer's records since it started. With
// Aggregate, Stored, Failed and Retried count user records, and Aggregates
// the aggregates stored.
type ProducerStats struct {
	Stored, Failed, Retried, Requests, Aggregates int64
}

// Producer batches records into PutRecords requests on a Client. It is safe
// for concurrent use. Records are copied on Put, so callers may reuse their
// buffers at once.
type Producer struct {
	c    *Client
	opts ProducerOptions

	ctx    context.Context // ends when Close gives up waiting
	cancel context.CancelFunc

	// mu guards everything below it.
	mu          sync.Mutex
	senders     sync.Cond     // on mu: a batch is ready or the producer closed
	cur         *pbatch       // the batch being filled
	ready       []*pbatch     // sealed batches waiting for a sender
	buffered    int           // key+data bytes put and not yet resolved
	outstanding int           // records put and not yet resolved
	space       chan struct{} // closed and replaced whenever buffer space is freed
	idle        chan struct{} // closed when outstanding drops to 0
	closed      bool
	failed      int
	firstErr    error
	gen         uint64 // batch generation, to match linger timers
	// With Aggregate: the open shards and the aggregate being built for
	// each, in hash key order; nil until learned.
	shards []shardAgg
	held   int    // user records held in shards' aggregates
	ehk    []byte // scratch: an explicit hash key in decimal

	timer *time.Timer
	wg    sync.WaitGroup

	// With a Cluster (NewProducer of Cluster, routed.go): where the
	// stream's newest shard map is published, the map batches are cut by
	// now, the batch being filled for each of its shards (and, last, for
	// records no open shard holds), and whether a linger is pending.
	route       *Cluster
	slot        *atomic.Pointer[routes]
	rmap        *routes
	rcur        []*pbatch
	rpos        int // the slot of rcur the batch being filled (cur) belongs to
	lingerArmed bool

	// With Aggregate: whether the shards were listed, and whether a put
	// landed in an unexpected shard since (they are then listed again).
	mapKnown, mapStale atomic.Bool
	mapMu              sync.Mutex // held while listing the shards

	stored, failedN, retried, requests, aggregates atomic.Int64
}

// shardAgg is one open shard of the stream and the aggregate being built
// for it.
type shardAgg struct {
	index      int
	start, end api.HashKey
	agg        *kpl.Aggregator
	bytes      int         // key and data bytes of the user records held
	first      api.HashKey // the first held record's explicit hash key, if hasFirst
	hasFirst   bool
}

// pbatch is a batch of records: their keys and data copied into arena.
type pbatch struct {
	gen      uint64
	routed   bool   // meant for shard of incarnation inc, through its leader
	inc      uint32 // of the stream, when routed
	shard    uint32 // when routed
	arena    *bytebufferpool.ByteBuffer
	recs     []precord
	bytes    int // keys and data of recs, as sent
	buffered int // keys and data of the user records in recs, as put
}

type precord struct {
	keyStart, keyEnd, dataEnd int
	hash                      api.HashKey
	hasHash                   bool
	attempts                  int
	// users is the user records of an aggregate, 0 for a plain record;
	// shard is the shard an aggregate is meant for.
	users, shard int
}

// NewProducer starts a producer on c.
func NewProducer(c *Client, opts ProducerOptions) (*Producer, error) {
	return newProducer(c, opts, nil)
}

// newProducer starts a producer on c, routed through cl if it is not nil.
func newProducer(c *Client, opts ProducerOptions, cl *Cluster) (*Producer, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	p := &Producer{c: c, opts: opts, space: make(chan struct{}), idle: make(chan struct{})}
	if cl != nil {
		p.route, p.slot = cl, cl.slot(opts.Stream)
	}
	close(p.idle)
	p.senders.L = &p.mu
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.timer = time.AfterFunc(time.Hour, p.onLinger)
	p.timer.Stop()
	p.wg.Add(opts.MaxInFlight)
	for range opts.MaxInFlight {
		go p.sendLoop()
	}
	return p, nil
}

// Put adds a record, blocking while MaxBuffered bytes are outstanding. Its
// outcome goes to OnResult and, if it fails, into the next Flush's error.
func (p *Producer) Put(ctx context.Context, key, data []byte) error {
	return p.put(ctx, key, data, api.HashKey{}, false)
}

// PutWithHash adds a record routed by an explicit hash key instead of the
// MD5 of its partition key.
func (p *Producer) PutWithHash(ctx context.Context, key, data []byte, hash api.HashKey) error {
	return p.put(ctx, key, data, hash, true)
}

func (p *Producer) put(ctx context.Context, key, data []byte, hash api.HashKey, hasHash bool) error {
	size := len(key) + len(data)
	if len(key) > wire.MaxStr {
		return &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
			Message: fmt.Sprintf("partition key is %d bytes; the limit is 256 characters", len(key))}
	}
	if p.opts.Aggregate {
		if len(key) == 0 {
			return &wire.Error{Code: api.CodeInvalidArgument, Name: api.CodeInvalidArgument.String(),
				Message: "partition key is empty; it must be 1 to 256 characters"}
		}
		if p.route == nil {
			if err := p.learnShards(ctx); err != nil {
				return err
			}
		}
	}
	p.mu.Lock()
	if p.route != nil {
		p.cutByNewestMap()
	}
	for {
		if p.closed {
			p.mu.Unlock()
			return wire.ErrClosed
		}
		if p.buffered == 0 || p.buffered+size <= p.opts.MaxBuffered {
			break
		}
		if p.held > 0 || p.rmap != nil {
			// Records held in aggregates, or in the batches of shards,
			// free no space until they are sent.
			p.sealAll()
		}
		space := p.space
		p.mu.Unlock()
		if err := awaitClosed(ctx, space); err != nil {
			return err
		}
		p.mu.Lock()
	}
	p.buffered += size
	if p.outstanding == 0 {
		p.idle = make(chan struct{})
	}
	p.outstanding++
	if !p.opts.Aggregate || !p.aggregate(key, data, hash, hasHash, size) {
		p.add(key, data, hash, hasHash, size, 0, -1)
	}
	if p.opts.Linger < 0 {
		p.sealAll()
	}
	p.mu.Unlock()
	return nil
}

// add appends a record (a user record, or an aggregate of users user
// records meant for shard) to the current batch (with a Cluster, its
// shard's batch), sealing the batch when it is full. buffered is the bytes
// of the user records, as put. Called with mu held.
func (p *Producer) add(key, data []byte, hash api.HashKey, hasHash bool, buffered, users, shard int) {
	if p.rmap != nil {
		p.addRouted(key, data, hash, hasHash, buffered, users, shard)
		return
	}
	p.addToBatch(key, data, hash, hasHash, buffered, users, shard)
}

// addToBatch appends a record to the current batch. Called with mu held.
func (p *Producer) addToBatch(key, data []byte, hash api.HashKey, hasHash bool, buffered, users, shard int) {
	size := len(key) + len(data)
	if p.cur != nil && len(p.cur.recs) > 0 && (len(p.cur.recs) >= p.opts.MaxBatchRecords || p.cur.bytes+size > p.opts.MaxBatchBytes) {
		p.seal()
	}
	p.startBatch()
	b := p.cur
	ks := len(b.arena.B)
	b.arena.B = append(b.arena.B, key...)
	b.arena.B = append(b.arena.B, data...)
	b.recs = append(b.recs, precord{keyStart: ks, keyEnd: ks + len(key), dataEnd: len(b.arena.B), hash: hash, hasHash: hasHash, users: users, shard: shard})
	b.bytes += size
	b.buffered += buffered
	if len(b.recs) >= p.opts.MaxBatchRecords || b.bytes >= p.opts.MaxBatchBytes {
		p.seal()
	}
}

// startLinger starts the linger of records held in aggregates: without a
// Cluster, by starting the batch they will join; with one, by arming the
// linger that sends every shard's batch. Called with mu held.
func (p *Producer) startLinger() {
	if p.rmap != nil {
		p.armLinger()
		return
	}
	p.startBatch()
}

// startBatch starts a batch, and its linger, if none is being filled.
// Called with mu held.
func (p *Producer) startBatch() {
	if p.cur != nil {
		return
	}
	p.gen++
	b := batches.Get().(*pbatch)
	*b = pbatch{gen: p.gen, arena: wire.GetBuf(p.opts.MaxBatchBytes), recs: b.recs[:0]}
	b.arena.B = b.arena.B[:0]
	p.cur = b
	if p.rmap != nil {
		p.startRouted()
		return
	}
	if p.opts.Linger > 0 {
		p.timer.Reset(p.opts.Linger)
	}
}

// aggregate adds a user record to the aggregate of its shard, moving that
// aggregate to the batch first if the record does not fit in it; false if
// the record is to be put as it is (too large, or no shard holds its hash
// key). Called with mu held.
func (p *Producer) aggregate(key, data []byte, hash api.HashKey, hasHash bool, size int) bool {
	h := hash
	if !hasHash {
		h = api.HashPartitionKey(key)
	}
	i := sort.Search(len(p.shards), func(i int) bool { return p.shards[i].end.Cmp(h) >= 0 })
	if i == len(p.shards) || p.shards[i].start.Cmp(h) > 0 {
		return false
	}
	s := &p.shards[i]
	var ehk []byte
	if hasHash {
		p.ehk = hash.AppendDecimal(p.ehk[:0])
		ehk = p.ehk
	}
	full, err := s.agg.Add(kpl.Record{PartitionKey: key, ExplicitHashKey: ehk, Data: data})
	if err != nil { // kpl.ErrTooLarge
		// Put it as it is, after the records of its shard put before it.
		p.flushAggregate(s)
		return false
	}
	if full.Data != nil {
		p.held -= full.Records
		p.add(full.PartitionKey, full.Data, s.first, s.hasFirst, s.bytes, full.Records, s.index)
		s.bytes = 0
	}
	if s.agg.Len() == 1 {
		s.first, s.hasFirst = hash, hasHash
	}
	s.bytes += size
	p.held++
	// The batch's linger bounds how long the record waits in its aggregate.
	p.startLinger()
	return true
}

// flushAggregates moves every aggregate being built to the batch. Called
// with mu held.
func (p *Producer) flushAggregates() {
	for i := range p.shards {
		p.flushAggregate(&p.shards[i])
	}
}

// flushAggregate moves the aggregate being built for s, if any, to the
// batch. Called with mu held.
func (p *Producer) flushAggregate(s *shardAgg) {
	if s.agg.Len() == 0 {
		return
	}
	full := s.agg.Flush()
	p.held -= full.Records
	p.add(full.PartitionKey, full.Data, s.first, s.hasFirst, s.bytes, full.Records, s.index)
	s.bytes = 0
}

// learnShards lists the stream's open shards if the producer does not know
// them yet or a put found them changed. The aggregates being built are
// moved to the batch first: each goes where its first record's key says.
func (p *Producer) learnShards(ctx context.Context) error {
	if p.mapKnown.Load() && !p.mapStale.Load() {
		return nil
	}
	p.mapMu.Lock()
	defer p.mapMu.Unlock()
	known := p.mapKnown.Load()
	if known && !p.mapStale.Load() {
		return nil // another Put learned them
	}
	p.mapStale.Store(false)
	list, err := p.c.ListShards(ctx, p.opts.Stream)
	if err != nil {
		if known {
			return nil // put by the shards known: the records are stored all the same
		}
		return fmt.Errorf("list the shards of %s to aggregate records by shard: %w", p.opts.Stream, err)
	}
	var shards []shardAgg
	for _, s := range list {
		if !s.Closed {
			shards = append(shards, shardAgg{index: s.Index, start: s.HashStart, end: s.HashEnd, agg: kpl.NewAggregator(p.opts.AggregateMaxBytes)})
		}
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].start.Cmp(shards[j].start) < 0 })
	p.mu.Lock()
	p.flushAggregates()
	p.shards = shards
	p.mu.Unlock()
	p.mapKnown.Store(true)
	return nil
}

// seal moves the current batch to the ready queue, or drops it if it is
// empty. Called with mu held.
func (p *Producer) seal() {
	if p.cur == nil {
		return
	}
	if len(p.cur.recs) == 0 {
		wire.PutBuf(p.cur.arena)
		batches.Put(p.cur)
		p.cur = nil
		return
	}
	p.ready = append(p.ready, p.cur)
	p.cur = nil
	p.senders.Signal()
	if p.held > 0 {
		p.startLinger() // the linger of the records held in aggregates
	}
}

// onLinger sends the batch whose linger expired, with every aggregate
// being built.
func (p *Producer) onLinger() {
	p.mu.Lock()
	if p.rmap != nil {
		p.lingerArmed = false
		p.sealAll()
	} else if p.cur != nil && p.cur.gen == p.gen {
		p.flushAggregates()
		p.seal()
	}
	p.mu.Unlock()
}

// sendLoop is one of MaxInFlight sender goroutines: it takes sealed
// batches in order and sends each until every record is resolved
// (retrying throttled records after a jittered exponential backoff). It
// exits when the producer is closed and no batch is left.
func (p *Producer) sendLoop() {
	defer p.wg.Done()
	results := make([]api.PutResult, p.opts.MaxBatchRecords)
	for {
		p.mu.Lock()
		for len(p.ready) == 0 && !p.closed {
			p.senders.Wait()
		}
		if len(p.ready) == 0 {
			p.mu.Unlock()
			return
		}
		b := p.ready[0]
		p.ready[0] = nil
		p.ready = p.ready[1:]
		p.mu.Unlock()
		p.send(b, results)
	}
}

// send resolves every record of b.
func (p *Producer) send(b *pbatch, results []api.PutResult) {
	if p.route != nil {
		p.putRouted(b, results)
	} else {
		p.put1(b, results)
	}
	p.mu.Lock()
	p.buffered -= b.buffered
	close(p.space)
	p.space = make(chan struct{})
	p.mu.Unlock()
	wire.PutBuf(b.arena)
	b.arena = nil
	batches.Put(b)
}

// batches recycles batches, whose record lists keep their capacity.
var batches = sync.Pool{New: func() any { return new(pbatch) }}

// put1 resolves every record of b through the producer's one connection.
func (p *Producer) put1(b *pbatch, results []api.PutResult) {
	pending := b.recs
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			p.retried.Add(int64(users(pending)))
			if err := p.backoff(attempt); err != nil {
				p.resolve(b, pending, nil, err)
				break
			}
		}
		bb, start := p.c.frameFor(2 + len(p.opts.Stream) + 2 + len(b.arena.B) + len(pending)*(1+wire.HashSize+2+4))
		bb.B = wire.AppendStr(bb.B, p.opts.Stream)
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
		_, err := p.c.putRecordsFrame(p.ctx, wire.OpPutRecords, bb, start, len(pending), results)
		if err != nil {
			if retriable(err) && attempt+1 < p.opts.MaxAttempts {
				continue
			}
			p.resolve(b, pending, nil, err)
			break
		}
		// Keep the records to retry at the front of pending.
		keep := 0
		for i := range pending {
			r := &results[i]
			if r.Err != nil && retriable(r.Err) && pending[i].attempts < p.opts.MaxAttempts {
				pending[keep] = pending[i]
				keep++
				continue
			}
			p.resolve(b, pending[i:i+1], results[i:i+1], nil)
		}
		pending = pending[:keep]
	}
}

// users counts the user records of recs.
func users(recs []precord) int {
	n := 0
	for i := range recs {
		n += max(recs[i].users, 1)
	}
	return n
}

// retriable reports errors worth retrying: throttling, and an internal
// failure, which is what a cluster answers while a shard's leadership moves
// (the replication of the records failed, or its outcome is not known, so a
// retry may store them twice, as with Kinesis).
func retriable(err error) bool {
	return errors.Is(err, api.ErrThroughputExceeded) || errors.Is(err, api.ErrInternal)
}

// backoff waits before the attempt-th retry.
func (p *Producer) backoff(attempt int) error {
	ceil := p.opts.BackoffMax
	if shift := attempt - 1; shift < 30 {
		ceil = min(ceil, p.opts.BackoffBase<<shift)
	}
	d := rand.N(ceil) + 1
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-p.ctx.Done():
		return fmt.Errorf("wire: producer closed before a retry: %w", p.ctx.Err())
	}
}

// resolve reports the outcome of recs: results[i] for each, or err for all.
func (p *Producer) resolve(b *pbatch, recs []precord, results []api.PutResult, err error) {
	nfailed, nusers, naggs := 0, 0, 0
	var first error
	for i := range recs {
		r := &recs[i]
		out := ProducerResult{Key: b.arena.B[r.keyStart:r.keyEnd], Data: b.arena.B[r.keyEnd:r.dataEnd], Attempts: r.attempts, Err: err}
		if results != nil {
			out.Seq, out.Err = results[i].Seq, results[i].Err
		}
		users := max(r.users, 1)
		nusers += users
		if out.Err != nil {
			nfailed += users
			if first == nil {
				first = out.Err
			}
		} else if r.users > 0 {
			naggs++
			if int(out.Seq.Shard) != r.shard {
				p.mapStale.Store(true) // the shards changed since the producer listed them
			}
		}
		if p.opts.OnResult == nil {
			continue
		}
		if r.users == 0 {
			p.opts.OnResult(out)
			continue
		}
		kpl.Deaggregate(out.Data, func(sub int, u kpl.Record) bool {
			out := out
			out.Key, out.Data, out.Aggregated, out.SubSeq = u.PartitionKey, u.Data, true, sub
			p.opts.OnResult(out)
			return true
		})
	}
	p.stored.Add(int64(nusers - nfailed))
	p.failedN.Add(int64(nfailed))
	p.aggregates.Add(int64(naggs))
	p.mu.Lock()
	p.failed += nfailed
	if p.firstErr == nil {
		p.firstErr = first
	}
	p.outstanding -= nusers
	if p.outstanding == 0 {
		close(p.idle)
	}
	p.mu.Unlock()
}

// Flush sends the current batch at once and waits until every record put
// so far is resolved. It returns a *ProducerError if records failed since
// the last Flush.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	p.sealAll()
	idle := p.idle
	p.mu.Unlock()
	if err := awaitClosed(ctx, idle); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed == 0 {
		return nil
	}
	err := &ProducerError{Failed: p.failed, First: p.firstErr}
	p.failed, p.firstErr = 0, nil
	return err
}

// Close flushes and stops the producer. If ctx ends first, records still
// waiting fail and Close returns ctx's error. Put fails with ErrClosed
// afterwards. The Client stays open.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return wire.ErrClosed
	}
	p.mu.Unlock()
	err := p.Flush(ctx)
	p.mu.Lock()
	p.closed = true
	p.sealAll()
	p.senders.Broadcast()
	p.mu.Unlock()
	if ctx.Err() != nil {
		p.cancel()
	}
	p.timer.Stop()
	p.wg.Wait()
	p.cancel()
	return err
}

// Stats returns the producer's counters.
func (p *Producer) Stats() ProducerStats {
	return ProducerStats{Stored: p.stored.Load(), Failed: p.failedN.Load(), Retried: p.retried.Load(), Requests: p.requests.Load(), Aggregates: p.aggregates.Load()}
}

// awaitClosed blocks until ch is closed or ctx ends.
func awaitClosed(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
