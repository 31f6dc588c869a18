package engine

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/segment"
)

// shard is one shard of a stream: its log, its writer goroutine and the
// submission queue that feeds it, its quota and its counters.
type shard struct {
	st    *stream
	index int
	id    string
	log   *segment.Log

	// meta is the shard's catalog entry. Guarded by Engine.mu.
	meta *shardMeta

	q chan *shardReq
	// qmu guards accepting. Producers hold it shared for the duration of one
	// enqueue; closing and stopping take it exclusively, so that once
	// accepting is false no request can enter the queue behind the final one.
	qmu       sync.RWMutex
	accepting bool
	done      chan struct{} // closed when the writer goroutine has exited

	closed atomic.Bool   // closed by a split or merge: no more writes
	endSeq atomic.Uint64 // one past the last record, once closed

	// notify is closed (and replaced) every time records are published or
	// the shard closes; readers wait on it.
	notify atomic.Pointer[chan struct{}]

	quota *ratelimit.Shard
	m     shardCounters

	// err is the first write or sync error, sticky. Only the writer touches it.
	err error
}

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
	// endSeq is the answer to reqClose.
	endSeq uint64
	err    error
}

func (e *Engine) shardDir(inc uint32, index int) string {
	return filepath.Join(e.streamDir(inc), api.ShardID(index))
}

// openShard opens the shard's log and, if the shard is open, starts its writer.
func (st *stream) openShard(m *shardMeta) (*shard, error) {
	e := st.e
	log, rec, err := segment.Open(e.shardDir(st.inc, m.Index), segment.Options{FS: e.fs, SegmentSize: e.opts.SegmentSize})
	if err != nil {
		return nil, &api.Error{Code: api.CodeInternal, Detail: "open shard " + api.ShardID(m.Index) + " of stream " + st.name, Err: err}
	}
	if !rec.Clean {
		e.recovered.shards.Add(1)
		e.recovered.scanned.Add(rec.ScannedBytes)
		e.recovered.truncated.Add(rec.TruncatedBytes)
	}
	if !rec.Clean && (rec.TruncatedBytes > 0 || len(rec.RemovedSegments) > 0 || rec.DroppedFrames > 0) {
		e.opts.Logger.Warn("recovered shard log after an unclean shutdown",
			"stream", st.name, "shard", api.ShardID(m.Index), "scanned_bytes", rec.ScannedBytes,
			"truncated_bytes", rec.TruncatedBytes, "dropped_frames", rec.DroppedFrames,
			"removed_segments", rec.RemovedSegments, "rebuilt_indexes", rec.RebuiltIndexes)
	}
	quota, err := ratelimit.NewShard(e.quotaClock, st.limits())
	if err != nil {
		log.Close()
		return nil, &api.Error{Code: api.CodeInvalidArgument, Detail: "quota of stream " + st.name, Err: err}
	}
	sh := &shard{st: st, index: m.Index, id: api.ShardID(m.Index), log: log, meta: m, done: make(chan struct{}), quota: quota}
	ch := make(chan struct{})
	sh.notify.Store(&ch)
	if m.Closed {
		sh.markClosed(m.EndSeq)
		close(sh.done)
		return sh, nil
	}
	sh.q = make(chan *shardReq, e.opts.QueueDepth)
	sh.accepting = true
	go sh.writeLoop()
	return sh, nil
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

// enqueue hands r to the writer, blocking while the queue is full. It fails
// with errShardClosed once the shard no longer accepts writes.
func (sh *shard) enqueue(r *shardReq) error {
	sh.qmu.RLock()
	if !sh.accepting {
		sh.qmu.RUnlock()
		return errShardClosed
	}
	sh.q <- r
	sh.qmu.RUnlock()
	return nil
}

// finish stops the writer after everything already queued: with reqClose the
// shard is closed for good (a split or merge) and the end sequence number is
// returned; with reqStop it is only shut down (server stop, stream delete).
func (sh *shard) finish(kind reqKind) (uint64, error) {
	sh.qmu.Lock()
	if !sh.accepting {
		sh.qmu.Unlock()
		<-sh.done
		return sh.endSeq.Load(), nil
	}
	sh.accepting = false
	sh.qmu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	r := &shardReq{kind: kind, wg: &wg}
	sh.q <- r
	wg.Wait()
	<-sh.done
	return r.endSeq, r.err
}

// writeLoop is the shard's only writer: group commit. It takes one request,
// drains whatever else is queued (up to MaxBatchBytes) without waiting,
// encodes every record of the batch into one reusable segment.Batch, issues
// one write (pwritev) and, in Always mode, one fdatasync, publishes the new
// high-watermark, wakes readers, and completes every request of the batch.
// There is no timer on this path: requests pile up in the queue while the
// previous sync runs, which is what makes batches grow under load. In
// Interval mode a timer syncs a dirty log after SyncInterval. A control
// request ends the batch it is in and, after that batch commits, the loop.
func (sh *shard) writeLoop() {
	defer close(sh.done)
	e := sh.st.e
	var (
		b       segment.Batch
		pending = make([]*shardReq, 0, 64)
		dirty   bool
		timer   *time.Timer
		timerC  <-chan time.Time
	)
	for {
		var r *shardReq
		if dirty {
			select {
			case r = <-sh.q:
			case <-timerC:
				sh.sync()
				dirty = false
				timerC = nil
				continue
			}
		} else {
			r = <-sh.q
		}
		pending = append(pending[:0], r)
		size := r.size
	drain:
		for r.kind == reqPut && size < e.opts.MaxBatchBytes {
			select {
			case r = <-sh.q:
				pending = append(pending, r)
				size += r.size
			default:
				break drain
			}
		}
		mode := sh.st.durability()
		sh.commit(&b, pending, mode)
		if mode == api.Interval && sh.err == nil && !dirty {
			dirty = true
			if timer == nil {
				timer = time.NewTimer(e.opts.SyncInterval)
			} else {
				timer.Reset(e.opts.SyncInterval)
			}
			timerC = timer.C
		}
		if last := pending[len(pending)-1]; last.kind != reqPut {
			if dirty || mode == api.None {
				sh.sync()
			}
			// The end of a closing shard is fixed here, but readers learn
			// of it only once reshard has installed the children (see
			// markClosed), so that a reader at the end always finds them.
			_, next := sh.log.Bounds()
			last.endSeq = next
			last.err = sh.err
			if timer != nil {
				timer.Stop()
			}
			for i := range pending {
				pending[i].wg.Done()
			}
			return
		}
		for i := range pending {
			pending[i].wg.Done()
		}
	}
}

// commit writes the put requests of one batch; it completes nothing.
func (sh *shard) commit(b *segment.Batch, reqs []*shardReq, mode api.Durability) {
	e := sh.st.e
	inc := sh.st.inc
	sh.log.Begin(b)
	now := e.now().UnixNano()
	records, payload := 0, 0
	for _, r := range reqs {
		if r.kind != reqPut {
			continue
		}
		for _, i := range r.idx {
			rec := &r.recs[i]
			seq, _ := b.Add(now, 0, rec.Key, rec.Data)
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
		err = sh.log.Write(b)
		if err == nil && mode == api.Always {
			t0 := time.Now()
			err = sh.log.Sync()
			if e.opts.OnSync != nil {
				e.opts.OnSync(time.Since(t0))
			}
		}
		if err != nil {
			sh.err = err
			e.opts.Logger.Error("shard write failed; the shard accepts no more writes until restart",
				"stream", sh.st.name, "shard", sh.id, "err", err)
		}
	}
	if err != nil {
		fail := &api.Error{Code: api.CodeInternal, Detail: "write failed on shard " + sh.id, Err: err}
		for _, r := range reqs {
			for _, i := range r.idx {
				r.results[i] = api.PutResult{Err: fail}
			}
		}
		return
	}
	sh.log.Publish()
	sh.wake()
	sh.m.inRecords.Add(uint64(records))
	sh.m.inBytes.Add(uint64(payload))
}

// sync flushes the log outside the put path (Interval mode, shutdown).
func (sh *shard) sync() {
	if sh.err != nil {
		return
	}
	t0 := time.Now()
	if err := sh.log.Sync(); err != nil {
		sh.err = err
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
