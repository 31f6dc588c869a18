package engine

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/commitlog"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/segment"
)

// shard is one shard of a stream: its log, its writer and the submission
// queue that feeds it, its quota and its counters.
//
// A shard costs resources only while it is used. Its log is opened on the
// first put or read (see acquire) and closed again (parked) once the shard
// has been idle for Options.ShardIdleTimeout (see park); its writer goroutine
// starts with the first put and exits after the same idle period. An idle
// shard holds no file, no mapping and no goroutine.
type shard struct {
	st    *stream
	index int
	id    string
	dir   string

	// meta is the shard's catalog entry. Guarded by Engine.mu.
	meta *shardMeta

	// log is the open log, nil while the shard is dormant (not opened since
	// start, or parked). It is stored only under lmu, and replaced by nil
	// only while uses is usesParking, so a holder of a use (acquire) reads it
	// without a lock and it stays open until release.
	log atomic.Pointer[segment.Log]
	// uses counts the holders of the open log: the writer goroutine for its
	// lifetime and every read call for its duration. usesParking while park
	// or shutLog closes the log.
	uses atomic.Int32
	// lastUse is when the log was last acquired (quota clock, ns); the
	// janitor parks logs unused for Options.ShardIdleTimeout.
	lastUse atomic.Int64
	// fault says why the shard cannot serve (it failed to open, or its log
	// failed a write or sync); nil while it can. Sticky until restart.
	fault atomic.Pointer[ShardFault]

	lmu sync.Mutex // guards opening, parking and shutting the log, and the fields below
	// gone is set once the shard is shut down (engine Close, stream delete,
	// retention): its log is never opened again.
	gone bool
	// parked holds the log's bounds as they were when it was last parked,
	// so that describing a dormant shard does not reopen it.
	parked struct {
		first, next uint64
		ok          bool
	}
	// expired is when retention last ran over this shard (quota clock, ns).
	expired atomic.Int64

	q     chan *shardReq // made on the first send (qOnce): a closed or idle shard has none
	qOnce sync.Once
	// qmu guards accepting. Producers hold it shared for the duration of one
	// enqueue; closing and stopping take it exclusively, so that once
	// accepting is false no request can enter the queue behind the final one.
	qmu       sync.RWMutex
	accepting bool
	stopped   chan struct{} // closed when finish has stopped the writer for good
	// wstate hands requests to the writer goroutine: bit 0 is set while a
	// writer runs, and the bits above count the requests a producer has
	// committed to send and the writer has not yet received (2 each). A
	// producer adds 2 before sending and starts a writer if bit 0 was clear;
	// the writer exits only by a CompareAndSwap from exactly 1 (running,
	// nothing on its way). So every request has a writer and at most one
	// writer runs.
	wstate atomic.Int64

	closed atomic.Bool   // closed by a split or merge: no more writes
	endSeq atomic.Uint64 // one past the last record, once closed
	// seal is the seal a replica's group applied (replica_seal.go): records
	// entries from its end on are refused. Set and cleared by the group's
	// apply only.
	seal atomic.Pointer[shardSeal]

	// notify is closed (and replaced) every time records are published or
	// the shard closes; readers wait on it.
	notify atomic.Pointer[chan struct{}]

	quota *ratelimit.Shard
	m     shardCounters

	// sealer gives the log the data keys of encrypted segments; its fields
	// are the writer's.
	sealer shardSealer

	// err is the first non-transient write or sync error, sticky. Only the
	// writer touches it (writers succeed one another through wstate).
	err error
}

// usesParking is the value of shard.uses while the log is being closed: far
// below zero, so that acquirers see it whatever they added.
const usesParking = -1 << 30

type shardCounters struct {
	inBytes, inRecords   atomic.Uint64
	outBytes, outRecords atomic.Uint64
	writeThrottled       atomic.Uint64
	readThrottled        atomic.Uint64
	iteratorAge          atomic.Int64
}

type reqKind uint8

const (
	reqPut reqKind = iota
	reqClose
	reqStop
	// reqApply carries a committed entry of a replicated shard (ApplyEntry).
	reqApply
	// reqFlush syncs the log and answers the sequence number after its last
	// record (SyncShard).
	reqFlush
)

// shardReq is one submission to a shard's writer: the records of one put call
// that route to this shard, or a control request.
type shardReq struct {
	kind    reqKind
	recs    []api.PutRecord
	idx     []int32 // indexes into recs (and results) of the records for this shard
	results []api.PutResult
	size    int // encoded bytes of the records
	wg      *sync.WaitGroup
	// endSeq is the answer to reqClose and reqFlush.
	endSeq uint64
	err    error
	// entry, expect and applied are reqApply's: the committed entry, the
	// sequence number its first record is to get, and its record count.
	entry   []byte
	expect  uint64
	applied int
}

func (e *Engine) shardDir(inc uint32, index int) string {
	return filepath.Join(e.streamDir(inc), api.ShardID(index))
}

// newShard makes the shard of m, dormant: nothing is opened until it is used.
// A fresh shard (just created, with an empty directory) describes as empty
// without being opened.
func (st *stream) newShard(m *shardMeta, fresh bool) (*shard, error) {
	e := st.e
	quota, err := ratelimit.NewShard(e.quotaClock, st.limits())
	if err != nil {
		return nil, &api.Error{Code: api.CodeInvalidArgument, Detail: "quota of stream " + st.name, Err: err}
	}
	sh := &shard{st: st, index: m.Index, id: api.ShardID(m.Index), dir: e.shardDir(st.inc, m.Index), meta: m,
		quota: quota, stopped: make(chan struct{})}
	sh.sealer.sh = sh
	sh.parked.ok = fresh
	sh.expired.Store(expiryPhase(e.quotaClock.Now()))
	ch := make(chan struct{})
	sh.notify.Store(&ch)
	sh.seal.Store(m.Seal)
	if m.Closed {
		sh.markClosed(m.EndSeq)
		close(sh.stopped)
		return sh, nil
	}
	sh.accepting = true
	return sh, nil
}

// acquire returns the shard's log, opening it if the shard is dormant, and
// keeps it open until the matching release. It fails with the shard's fault,
// with a retryable error when the open failed for want of a resource (file
// descriptors, space), or once the shard is shut down.
func (sh *shard) acquire() (*segment.Log, error) {
	for {
		n := sh.uses.Load()
		if n < 0 {
			// A park is closing the log: wait for it under its lock.
			sh.lmu.Lock()
			sh.lmu.Unlock()
			continue
		}
		if !sh.uses.CompareAndSwap(n, n+1) {
			continue
		}
		sh.lastUse.Store(sh.st.e.quotaClock.Now())
		if l := sh.log.Load(); l != nil {
			return l, nil
		}
		sh.st.e.makeRoom()
		l, err := sh.openLog()
		if err != nil {
			sh.uses.Add(-1)
			return nil, err
		}
		return l, nil
	}
}

// release drops a use taken by acquire.
func (sh *shard) release() { sh.uses.Add(-1) }

// openLog opens the log of a dormant shard. The caller holds a use.
func (sh *shard) openLog() (*segment.Log, error) {
	sh.lmu.Lock()
	defer sh.lmu.Unlock()
	if l := sh.log.Load(); l != nil {
		return l, nil
	}
	if f := sh.fault.Load(); f != nil {
		return nil, f.err
	}
	e := sh.st.e
	if sh.gone {
		if e.shut.Load() {
			return nil, ErrClosed
		}
		return nil, api.ShardNotFound(sh.st.name, sh.id)
	}
	l, rec, err := segment.Open(sh.dir, segment.Options{FS: e.fs, SegmentSize: e.opts.SegmentSize, Sealer: &sh.sealer, Flusher: e.flusher})
	if err != nil {
		if isTransient(err) {
			e.opts.Logger.Warn("could not open shard for want of a resource; the request may be retried",
				"stream", sh.st.name, "shard", sh.id, "err", err)
			return nil, &api.Error{Code: api.CodeInternal, Detail: "open shard " + sh.id + " of stream " + sh.st.name + " failed for want of a resource; retry", Err: err}
		}
		return nil, sh.setFault("open", err).err
	}
	if !rec.Clean {
		e.recovered.shards.Add(1)
		e.recovered.scanned.Add(rec.ScannedBytes)
		e.recovered.truncated.Add(rec.TruncatedBytes)
	}
	if !rec.Clean && (rec.TruncatedBytes > 0 || len(rec.RemovedSegments) > 0 || rec.DroppedFrames > 0) {
		e.opts.Logger.Warn("recovered shard log after an unclean shutdown",
			"stream", sh.st.name, "shard", sh.id, "scanned_bytes", rec.ScannedBytes,
			"truncated_bytes", rec.TruncatedBytes, "dropped_frames", rec.DroppedFrames,
			"removed_segments", rec.RemovedSegments, "rebuilt_indexes", rec.RebuiltIndexes)
	}
	// A dormant shard is skipped by most retention passes: expire what
	// fell out of retention meanwhile before the shard serves again.
	if _, err := l.Expire(sh.st.cutoff()); err != nil {
		e.opts.Logger.Warn("retention failed", "stream", sh.st.name, "shard", sh.id, "err", err)
	}
	sh.expired.Store(e.quotaClock.Now())
	sh.log.Store(l)
	e.openLogs.Add(1)
	return l, nil
}

// park closes the log of an idle shard so that it holds no file or mapping,
// keeping its bounds for Describe. It gives up, returning false, if anyone
// holds a use, a writer runs, or the log is not open.
func (sh *shard) park() bool {
	sh.lmu.Lock()
	defer sh.lmu.Unlock()
	l := sh.log.Load()
	// A faulted shard keeps its log open, so that what it stored stays
	// readable.
	if l == nil || sh.wstate.Load() != 0 || sh.fault.Load() != nil || !sh.uses.CompareAndSwap(0, usesParking) {
		return false
	}
	sh.parked.first, sh.parked.next = l.Bounds()
	sh.parked.ok = true
	if err := l.Close(); err != nil && sh.fault.Load() == nil {
		sh.setFault("close", err)
	}
	sh.log.Store(nil)
	sh.uses.Store(0)
	sh.st.e.openLogs.Add(-1)
	if f := sh.st.e.hooks.parked; f != nil {
		f()
	}
	return true
}

// takeLogLocked marks the shard gone for good and takes its log, if open,
// out of it for the caller to close or destroy. sh.lmu must be held.
func (sh *shard) takeLogLocked() *segment.Log {
	sh.gone = true
	l := sh.log.Swap(nil)
	if l != nil {
		sh.st.e.openLogs.Add(-1)
	}
	return l
}

// shutLog closes the log for good (engine Close, after the writer stopped)
// and returns the error of a failed clean close. Readers still in a call see
// the log closed.
func (sh *shard) shutLog() error {
	sh.lmu.Lock()
	defer sh.lmu.Unlock()
	l := sh.takeLogLocked()
	if l == nil {
		return nil
	}
	sh.parked.first, sh.parked.next = l.Bounds()
	err := l.Close()
	// A log that could not close cleanly may recover to less than it
	// published: let the next start open it to describe it.
	sh.parked.ok = err == nil
	return err
}

// destroyLog removes the shard's files (stream delete, retention) whether
// or not its log is open.
func (sh *shard) destroyLog() error {
	sh.lmu.Lock()
	defer sh.lmu.Unlock()
	if l := sh.takeLogLocked(); l != nil {
		return l.Destroy()
	}
	if err := sh.st.e.fs.RemoveAll(sh.dir); err != nil {
		return err
	}
	return nil
}

// bounds returns the retained range [first, next) of the shard, from the
// parked bounds for a parked shard, opening a never-opened one.
func (sh *shard) bounds() (first, next uint64, err error) {
	if sh.uses.Load() >= 0 && sh.log.Load() == nil {
		sh.lmu.Lock()
		if sh.log.Load() == nil && sh.parked.ok {
			first, next = sh.parked.first, sh.parked.next
			sh.lmu.Unlock()
			return first, next, nil
		}
		sh.lmu.Unlock()
	}
	l, err := sh.acquire()
	if err != nil {
		return 0, 0, err
	}
	first, next = l.Bounds()
	sh.release()
	return first, next, nil
}

func (sh *shard) changed() <-chan struct{} { return *sh.notify.Load() }

// markClosed tells readers that the shard ends at end and wakes them.
func (sh *shard) markClosed(end uint64) {
	sh.endSeq.Store(end)
	sh.closed.Store(true)
	sh.wake()
}

func (sh *shard) wake() {
	ch := make(chan struct{})
	old := sh.notify.Swap(&ch)
	close(*old)
}

func (sh *shard) isClosed() bool { return sh.closed.Load() }

// enqueue hands r to the writer, starting one if none runs, and blocks while
// the queue is full. It fails with errShardClosed once the shard no longer
// accepts writes.
func (sh *shard) enqueue(r *shardReq) error {
	sh.qmu.RLock()
	if !sh.accepting {
		sh.qmu.RUnlock()
		return errShardClosed
	}
	sh.send(r)
	sh.qmu.RUnlock()
	return nil
}

// send counts r as on its way, starts a writer if none runs, and queues r.
func (sh *shard) send(r *shardReq) {
	sh.qOnce.Do(sh.makeQueue)
	if sh.wstate.Add(2)&1 == 0 {
		for {
			w := sh.wstate.Load()
			if w&1 != 0 {
				break
			}
			if sh.wstate.CompareAndSwap(w, w|1) {
				sh.st.e.writers.Add(1)
				go sh.writeLoop()
				break
			}
		}
	}
	sh.q <- r
}

func (sh *shard) makeQueue() { sh.q = make(chan *shardReq, sh.st.e.opts.QueueDepth) }

// finish stops the writer after everything already queued: with reqClose the
// shard is closed for good (a split or merge) and the end sequence number is
// returned; with reqStop it is only shut down (server stop, stream delete).
func (sh *shard) finish(kind reqKind) (uint64, error) {
	sh.qmu.Lock()
	if !sh.accepting {
		sh.qmu.Unlock()
		<-sh.stopped
		return sh.endSeq.Load(), nil
	}
	sh.accepting = false
	stopped := sh.stopped
	sh.qmu.Unlock()
	defer close(stopped)
	if kind == reqStop && sh.wstate.Load() == 0 {
		// No writer runs and, with accepting false, none will start.
		return 0, nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	r := &shardReq{kind: kind, wg: &wg}
	sh.send(r)
	wg.Wait()
	return r.endSeq, r.err
}

// writerState is what a writer goroutine reuses from batch to batch; it is
// pooled so that a writer that exits when idle does not keep its buffers.
type writerState struct {
	b       segment.Batch
	cb      *commitlog.Batch // the batch's writes, for the node-wide commit log
	pending []*shardReq
}

var writerStates = sync.Pool{New: func() any {
	return &writerState{cb: commitlog.NewBatch(), pending: make([]*shardReq, 0, 64)}
}}

// writeLoop is the shard's only writer: group commit. It takes one request,
// drains whatever else is queued (up to MaxBatchBytes) without waiting,
// encodes every record of the batch into one reusable segment.Batch, issues
// one write (pwritev) and, in Always mode, one fdatasync, publishes the new
// high-watermark, wakes readers, and completes every request of the batch.
// There is no timer on this path: requests pile up in the queue while the
// previous sync runs, which is what makes batches grow under load. In
// Interval mode a timer syncs a dirty log after SyncInterval. A control
// request ends the batch it is in and, after that batch commits, the loop.
//
// The goroutine is started by the first request sent to an idle shard (see
// send) and holds a use of the log while it runs. When a whole
// ShardIdleTimeout passes without a request, it syncs a dirty log and exits
// if nothing is on its way (wstate from 1 to 0); otherwise it goes on.
func (sh *shard) writeLoop() {
	e := sh.st.e
	defer func() {
		e.writers.Add(-1)
		if f := e.hooks.writerExit; f != nil {
			f()
		}
	}()
	ws := writerStates.Get().(*writerState)
	defer writerStates.Put(ws)
	var (
		log    *segment.Log
		logErr error
		dirty  bool
		busy   bool
		timer  *time.Timer
		timerC <-chan time.Time
		idle   = time.NewTimer(e.opts.ShardIdleTimeout)
	)
	defer idle.Stop()
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		if log != nil {
			sh.release()
		}
	}()
	for {
		var r *shardReq
		select {
		case r = <-sh.q:
		case <-timerC:
			sh.sync(log)
			dirty = false
			timerC = nil
			continue
		case <-idle.C:
			if busy {
				busy = false
				idle.Reset(e.opts.ShardIdleTimeout)
				continue
			}
			if dirty {
				sh.sync(log)
				dirty = false
				timerC = nil
			}
			if log != nil && sh.err == nil {
				// Let go of the active segment's file (after an
				// fdatasync): an idle shard holds no descriptor even
				// before the janitor closes its log.
				if err := log.Park(); err != nil {
					sh.err = err
					sh.setFault("sync", err)
				}
			}
			if f := e.hooks.idleExit; f != nil {
				f()
			}
			if sh.wstate.CompareAndSwap(1, 0) {
				return
			}
			idle.Reset(e.opts.ShardIdleTimeout)
			continue
		}
		busy = true
		sh.wstate.Add(-2)
		pending := append(ws.pending[:0], r)
		size := r.size
	drain:
		for (r.kind == reqPut || r.kind == reqApply) && size < e.opts.MaxBatchBytes {
			select {
			case r = <-sh.q:
				sh.wstate.Add(-2)
				pending = append(pending, r)
				size += r.size
			default:
				break drain
			}
		}
		ws.pending = pending
		if log == nil {
			log, logErr = sh.acquire()
		}
		last := pending[len(pending)-1]
		if log == nil {
			failBatch(pending, logErr)
			if last.kind == reqApply || last.kind == reqFlush {
				for _, r := range pending {
					r.err = logErr
				}
				sh.done(pending)
				if sh.wstate.CompareAndSwap(1, 0) {
					return
				}
				continue
			}
			if last.kind != reqPut {
				last.err = logErr
				sh.wstate.Store(0)
				sh.done(pending)
				return
			}
			sh.done(pending)
			// Let the next request try the open again.
			if sh.wstate.CompareAndSwap(1, 0) {
				return
			}
			continue
		}
		mode := sh.st.durability()
		if e.opts.Replica != nil {
			// A replica's segments are written by applied entries only;
			// its Raft log makes them durable. They are synced in the
			// background every replicaSyncInterval so that SyncShard,
			// which the log waits for before it lets entries go, finds
			// little left to sync.
			mode = api.Interval
			sh.applyBatch(log, ws, pending)
		} else {
			sh.commit(log, ws, pending, mode)
		}
		if mode == api.Interval && sh.err == nil && !dirty {
			dirty = true
			every := e.opts.SyncInterval
			if e.opts.Replica != nil {
				every = replicaSyncInterval
			}
			if timer == nil {
				timer = time.NewTimer(every)
			} else {
				timer.Reset(every)
			}
			timerC = timer.C
		}
		if last.kind == reqFlush {
			sh.sync(log)
			_, last.endSeq = log.Bounds()
			if last.err == nil {
				last.err = sh.err
			}
			sh.done(pending)
			continue
		}
		if last.kind != reqPut && last.kind != reqApply {
			if dirty || mode == api.None {
				sh.sync(log)
			}
			// The end of a closing shard is fixed here, but readers learn
			// of it only once reshard has installed the children (see
			// markClosed), so that a reader at the end always finds them.
			_, next := log.Bounds()
			last.endSeq = next
			last.err = sh.err
			sh.wstate.Store(0)
			sh.done(pending)
			return
		}
		sh.done(pending)
	}
}

// done completes the requests of a batch.
func (sh *shard) done(reqs []*shardReq) {
	for i := range reqs {
		if reqs[i].wg != nil {
			reqs[i].wg.Done()
		} else if reqs[i].err != nil {
			// An apply no one waits for (ApplyEntryAsync): its failure
			// has fenced the shard, and is logged.
			sh.st.e.opts.Logger.Error("applying a committed entry failed", "stream", sh.st.name, "shard", sh.id, "err", reqs[i].err)
		}
	}
	clear(reqs)
}

// failBatch fails every record of the put requests of a batch with err.
func failBatch(reqs []*shardReq, err error) {
	for _, r := range reqs {
		for _, i := range r.idx {
			r.results[i] = api.PutResult{Err: err}
		}
	}
}

// commit writes the put requests of one batch; it completes nothing. A
// write that fails for want of a resource and leaves the log unfenced (see
// isTransient) fails the batch with a retryable error; any other failure
// fences the shard: it is recorded as its fault and every later batch fails.
func (sh *shard) commit(log *segment.Log, ws *writerState, reqs []*shardReq, mode api.Durability) {
	e := sh.st.e
	b := &ws.b
	inc := sh.st.inc
	enc := sh.st.encryption()
	if enc != nil && hasPuts(reqs) {
		// One look at the key per batch: a disabled or missing key fails
		// the batch's records with the key service's error.
		if e.opts.Keys == nil {
			failBatch(reqs, errNoKeyService)
			return
		}
		m, err := e.usableKey(enc.keyID)
		if err != nil {
			failBatch(reqs, err)
			return
		}
		sh.sealer.keyID, sh.sealer.arn = enc.keyID, m.ARN
	}
	log.Begin(b)
	now := e.now().UnixNano()
	records, payload := 0, 0
	for _, r := range reqs {
		if r.kind != reqPut {
			continue
		}
		for _, i := range r.idx {
			rec := &r.recs[i]
			var seq uint64
			if enc != nil {
				seq, _ = b.AddSealed(now, rec.Key, rec.Data)
			} else {
				seq, _ = b.Add(now, 0, rec.Key, rec.Data)
			}
			payload += len(rec.Key) + len(rec.Data)
			r.results[i] = api.PutResult{ShardID: sh.id, Seq: api.SeqNum{Incarnation: inc, Shard: uint32(sh.index), Seq: seq}}
		}
		records += len(r.idx)
	}
	if records == 0 {
		return
	}
	err := sh.err
	if err == nil {
		durable := mode == api.Always && e.clog != nil
		if durable {
			// Tell the commit log this batch is on its way, so that a
			// group about to be written waits for it (see Expect).
			e.clog.Expect(ws.cb)
		}
		err = log.Write(b)
		if err != nil && durable {
			e.clog.Withdraw(ws.cb)
		}
		if ke, ok := isKeyError(err); ok && log.Err() == nil {
			failBatch(reqs, ke) // the key service refused a data key: nothing was written
			return
		}
		if err != nil && isTransient(err) && log.Err() == nil {
			e.opts.Logger.Warn("shard write failed for want of a resource; the batch is refused and may be retried",
				"stream", sh.st.name, "shard", sh.id, "err", err)
			failBatch(reqs, &api.Error{Code: api.CodeInternal, Detail: "write on shard " + sh.id + " failed for want of a resource; retry", Err: err})
			return
		}
		if err == nil && mode == api.Always {
			err = sh.commitDurable(log, ws.cb)
		}
		if err != nil {
			sh.err = err
			sh.setFault("write", err)
			e.opts.Logger.Error("shard write failed; the shard accepts no more writes until restart",
				"stream", sh.st.name, "shard", sh.id, "err", err)
		}
	}
	if err != nil {
		failBatch(reqs, &api.Error{Code: api.CodeInternal, Detail: "write failed on shard " + sh.id, Err: err})
		return
	}
	log.Publish()
	sh.wake()
	sh.m.inRecords.Add(uint64(records))
	sh.m.inBytes.Add(uint64(payload))
}

// hasPuts reports whether a batch holds a put request.
func hasPuts(reqs []*shardReq) bool {
	for _, r := range reqs {
		if r.kind == reqPut && len(r.idx) > 0 {
			return true
		}
	}
	return false
}

// sync flushes the log outside the put path (Interval mode, shutdown).
func (sh *shard) sync(log *segment.Log) {
	if sh.err != nil || log == nil {
		return
	}
	t0 := time.Now()
	if err := log.Sync(); err != nil {
		sh.err = err
		sh.setFault("sync", err)
		sh.st.e.opts.Logger.Error("shard sync failed", "stream", sh.st.name, "shard", sh.id, "err", err)
		return
	}
	if f := sh.st.e.opts.OnSync; f != nil {
		f(time.Since(t0))
	}
}

// metrics returns a snapshot of the shard's counters.
func (sh *shard) metrics() ShardMetrics {
	return ShardMetrics{
		Stream: sh.st.name, Shard: sh.id,
		IncomingBytes: sh.m.inBytes.Load(), IncomingRecords: sh.m.inRecords.Load(),
		OutgoingBytes: sh.m.outBytes.Load(), OutgoingRecords: sh.m.outRecords.Load(),
		WriteThrottled: sh.m.writeThrottled.Load(), ReadThrottled: sh.m.readThrottled.Load(),
		IteratorAgeMillis: sh.m.iteratorAge.Load(), Closed: sh.isClosed(),
	}
}
