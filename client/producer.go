package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api"
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
	// MaxAttempts bounds the attempts to store a throttled record; default
	// 10. A record still throttled after them fails with
	// ProvisionedThroughputExceededException.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the wait before retrying throttled
	// records: a random duration in [0, min(BackoffMax, BackoffBase·2^n))
	// before the n-th retry ("full jitter"); defaults 50 ms and 2 s.
	BackoffBase, BackoffMax time.Duration
	// OnResult, if set, is called once per record with its final outcome,
	// from the producer's sender goroutines. Key and Data are valid only
	// during the call.
	OnResult func(ProducerResult)
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

// ProducerStats counts a producer's records since it started.
type ProducerStats struct {
	Stored, Failed, Retried, Requests int64
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

	timer *time.Timer
	wg    sync.WaitGroup

	stored, failedN, retried, requests atomic.Int64
}

// pbatch is a batch of records: their keys and data copied into arena.
type pbatch struct {
	gen   uint64
	arena *bytebufferpool.ByteBuffer
	recs  []precord
	bytes int
}

type precord struct {
	keyStart, keyEnd, dataEnd int
	hash                      api.HashKey
	hasHash                   bool
	attempts                  int
}

// NewProducer starts a producer on c.
func NewProducer(c *Client, opts ProducerOptions) (*Producer, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	p := &Producer{c: c, opts: opts, space: make(chan struct{}), idle: make(chan struct{})}
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
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return wire.ErrClosed
		}
		if p.buffered == 0 || p.buffered+size <= p.opts.MaxBuffered {
			break
		}
		space := p.space
		p.mu.Unlock()
		if err := awaitClosed(ctx, space); err != nil {
			return err
		}
		p.mu.Lock()
	}
	if p.cur != nil && (len(p.cur.recs) >= p.opts.MaxBatchRecords || p.cur.bytes+size > p.opts.MaxBatchBytes) {
		p.seal()
	}
	if p.cur == nil {
		p.gen++
		p.cur = &pbatch{gen: p.gen, arena: wire.GetBuf(p.opts.MaxBatchBytes)}
		p.cur.arena.B = p.cur.arena.B[:0]
		if p.opts.Linger > 0 {
			p.timer.Reset(p.opts.Linger)
		}
	}
	b := p.cur
	ks := len(b.arena.B)
	b.arena.B = append(b.arena.B, key...)
	b.arena.B = append(b.arena.B, data...)
	b.recs = append(b.recs, precord{keyStart: ks, keyEnd: ks + len(key), dataEnd: len(b.arena.B), hash: hash, hasHash: hasHash})
	b.bytes += size
	p.buffered += size
	if p.outstanding == 0 {
		p.idle = make(chan struct{})
	}
	p.outstanding++
	if len(b.recs) >= p.opts.MaxBatchRecords || b.bytes >= p.opts.MaxBatchBytes || p.opts.Linger < 0 {
		p.seal()
	}
	p.mu.Unlock()
	return nil
}

// seal moves the current batch to the ready queue. Called with mu held.
func (p *Producer) seal() {
	if p.cur == nil {
		return
	}
	p.ready = append(p.ready, p.cur)
	p.cur = nil
	p.senders.Signal()
}

// onLinger sends the batch whose linger expired.
func (p *Producer) onLinger() {
	p.mu.Lock()
	if p.cur != nil && p.cur.gen == p.gen {
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
	pending := b.recs
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			p.retried.Add(int64(len(pending)))
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
		_, err := p.c.putRecordsFrame(p.ctx, bb, start, len(pending), results)
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
	p.mu.Lock()
	p.buffered -= b.bytes
	close(p.space)
	p.space = make(chan struct{})
	p.mu.Unlock()
	wire.PutBuf(b.arena)
}

// retriable reports errors worth retrying: throttling.
func retriable(err error) bool { return errors.Is(err, api.ErrThroughputExceeded) }

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
	nfailed := 0
	var first error
	for i := range recs {
		r := &recs[i]
		out := ProducerResult{Key: b.arena.B[r.keyStart:r.keyEnd], Data: b.arena.B[r.keyEnd:r.dataEnd], Attempts: r.attempts, Err: err}
		if results != nil {
			out.Seq, out.Err = results[i].Seq, results[i].Err
		}
		if out.Err != nil {
			nfailed++
			if first == nil {
				first = out.Err
			}
		}
		if p.opts.OnResult != nil {
			p.opts.OnResult(out)
		}
	}
	p.stored.Add(int64(len(recs) - nfailed))
	p.failedN.Add(int64(nfailed))
	p.mu.Lock()
	p.failed += nfailed
	if p.firstErr == nil {
		p.firstErr = first
	}
	p.outstanding -= len(recs)
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
	p.seal()
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
	p.seal()
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
	return ProducerStats{Stored: p.stored.Load(), Failed: p.failedN.Load(), Retried: p.retried.Load(), Requests: p.requests.Load()}
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
