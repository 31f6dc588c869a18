package wire

import (
	"runtime"
	"sync"
)

// SmallBatch is the queue length below which a connection's writer yields
// once before writing, so that goroutines about to send (callers woken by a
// burst of responses, handlers about to answer) join the same writev.
const SmallBatch = 64

// SendQueue is the queue between the goroutines that send on one connection
// and the connection's only writer, which takes everything queued so far
// and writes it with one writev. Push never blocks: what bounds the queue is
// the sender's own budget. The zero value is an open, empty queue.
type SendQueue[F any] struct {
	mu     sync.Mutex // guards queue, spare, closed and cond's initialisation
	cond   sync.Cond  // on mu: wakes the writer when the queue becomes non-empty or closes
	queue  []F
	spare  []F // the last batch's slice, handed back by Recycle
	closed bool
}

func (q *SendQueue[F]) lock() {
	q.mu.Lock()
	if q.cond.L == nil {
		q.cond.L = &q.mu
	}
}

// Push queues f for the writer and reports true, or reports false once the
// queue is closed: then f was not queued and the caller still owns it.
func (q *SendQueue[F]) Push(f F) bool {
	q.lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.queue = append(q.queue, f)
	if len(q.queue) == 1 {
		q.cond.Signal()
	}
	q.mu.Unlock()
	return true
}

// Close refuses every later Push and wakes the writer. What is already
// queued is still returned by Take.
func (q *SendQueue[F]) Close() {
	q.lock()
	q.closed = true
	q.cond.Signal()
	q.mu.Unlock()
}

// Take waits until something is queued or the queue is closed, and returns
// every frame queued so far (the caller owns them until Recycle) and whether
// the queue is closed. While the queue is open and small(queued) reports
// true, it yields the processor once first to gather more frames into the
// batch. A closed and drained queue returns no frames and true.
func (q *SendQueue[F]) Take(small func(queued []F) bool) ([]F, bool) {
	q.lock()
	for len(q.queue) == 0 && !q.closed {
		q.cond.Wait()
	}
	if !q.closed && small(q.queue) {
		q.mu.Unlock()
		runtime.Gosched()
		q.lock()
	}
	batch := q.queue
	q.queue, q.spare = q.spare[:0], nil
	closed := q.closed
	q.mu.Unlock()
	return batch, closed
}

// Recycle hands back a batch from Take once its frames are written and
// released, so that the next batch reuses its slice.
func (q *SendQueue[F]) Recycle(batch []F) {
	clear(batch)
	q.lock()
	q.spare = batch[:0]
	q.mu.Unlock()
}
