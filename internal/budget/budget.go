// Package budget is a server-wide allowance of memory for requests in
// flight, shared by every connection of both front doors. A reader charges
// the bytes of a request as they arrive (never what a header declares) and
// releases them once the request is answered; when the allowance is spent,
// readers wait before reading more, which pushes back on clients through
// TCP instead of running the process out of memory.
package budget

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Budget is an allowance of bytes. The zero value is not usable; a nil
// *Budget is unlimited.
type Budget struct {
	limit int64
	used  atomic.Int64

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed (and replaced) by a Release while someone waits
	waiting atomic.Int32  // goroutines in Acquire's slow path

	testHookWait func() // if set, called when an Acquire starts to wait
}

// New returns a budget of limit bytes; limit <= 0 means unlimited (nil).
func New(limit int64) *Budget {
	if limit <= 0 {
		return nil
	}
	return &Budget{limit: limit, changed: make(chan struct{})}
}

// Limit is the budget's size in bytes (0 for an unlimited budget).
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// InUse is the bytes currently charged.
func (b *Budget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Charge charges n bytes whether or not they fit: for bytes that are
// already in memory (read ahead into a buffer) and must be accounted for.
func (b *Budget) Charge(n int64) {
	if b != nil && n > 0 {
		b.used.Add(n)
	}
}

// TryAcquire charges n bytes if they fit, or if nothing at all is charged
// (so that a request larger than the whole budget is not starved), and
// reports whether it did.
func (b *Budget) TryAcquire(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.limit && u != 0 {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Acquire charges n bytes, waiting while they do not fit, until ctx ends or
// the wait reaches timeout (0: no timeout). It returns ctx's error, or
// ErrExhausted on timeout; then nothing is charged.
func (b *Budget) Acquire(ctx context.Context, n int64, timeout time.Duration) error {
	if b.TryAcquire(n) {
		return nil
	}
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	if b.testHookWait != nil {
		b.testHookWait()
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		b.mu.Lock()
		ch := b.changed
		b.mu.Unlock()
		// Check again after taking the channel, so that a Release between
		// the failed attempt and here is not missed.
		if b.TryAcquire(n) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-expired:
			return ErrExhausted
		}
	}
}

// Release returns n bytes charged earlier and wakes the waiters.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.used.Add(-n)
	if b.waiting.Load() > 0 {
		b.mu.Lock()
		close(b.changed)
		b.changed = make(chan struct{})
		b.mu.Unlock()
	}
}

// ErrExhausted is returned by Acquire when the budget stayed spent for the
// whole wait.
var ErrExhausted = budgetError("budget: the server's in-flight request memory stayed spent")

type budgetError string

func (e budgetError) Error() string { return string(e) }
