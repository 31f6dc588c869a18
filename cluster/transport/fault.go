package transport

import (
	"maps"

	"github.com/sluicedb/sluice/cluster"
)

// faults is the fault hook's state, replaced whole on every change so
// that the paths it slows read it with one atomic load, and not at all
// when no fault is set.
type faults struct {
	filter  func(to uint64, e *cluster.Envelope) bool
	blocked map[uint64]bool
}

// SetFilter installs f as the filter of outgoing messages, or removes the
// filter when f is nil. Send asks f about every envelope for a node that
// has an address: false drops it silently, as a lossy network would (a
// dropped MsgSnap is still reported failed, since nothing else would end
// the snapshot). f is called from Send's goroutine with a peer's lock
// held: it must be quick and must not call the transport.
func (t *Transport) SetFilter(f func(to uint64, e *cluster.Envelope) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := t.faultsCopy()
	next.filter = f
	t.storeFaults(next)
}

// Block cuts (blocked true) or restores the link with node in both
// directions: messages for it are dropped and reported unreachable, as a
// partition would have them, and frames that arrive from it are read and
// discarded. Connections stay open, so restoring the link takes effect at
// once.
func (t *Transport) Block(node uint64, blocked bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := t.faultsCopy()
	if blocked {
		next.blocked[node] = true
	} else {
		delete(next.blocked, node)
	}
	t.storeFaults(next)
}

// faultsCopy returns a copy of the fault state to change; t.mu is held.
func (t *Transport) faultsCopy() *faults {
	next := &faults{blocked: map[uint64]bool{}}
	if cur := t.fault.Load(); cur != nil {
		next.filter = cur.filter
		next.blocked = maps.Clone(cur.blocked)
	}
	return next
}

// storeFaults publishes f, or nil when f sets no fault; t.mu is held.
func (t *Transport) storeFaults(f *faults) {
	if f.filter == nil && len(f.blocked) == 0 {
		t.fault.Store(nil)
		return
	}
	t.fault.Store(f)
}
