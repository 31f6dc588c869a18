package auth

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sluicedb/sluice/internal/jsonenc"
)

// AuditEvent is one line of the audit log.
type AuditEvent struct {
	Time time.Time
	// Identity is the user's ARN, or "anonymous" on a server without a
	// users file.
	Identity string
	// Action is the IAM action name; Resource the ARN acted on ("*" for
	// account-level actions).
	Action, Resource string
	// Door is "http" or "wire".
	Door string
	// Outcome is "allowed", "denied", or "error:" and the error's name
	// for a request that was allowed but failed.
	Outcome string
	// Remote is the client's address.
	Remote string
}

// Outcomes of audited requests.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
)

// Anonymous is the identity of requests on a server without a users file.
const Anonymous = "anonymous"

// auditBufferLimit is the most bytes of lines waiting for the writer; a
// logger that finds it full waits (an audit log drops nothing).
const auditBufferLimit = 4 << 20

// Audit is an append-only log of JSON lines, one per audited request. Lines
// are buffered and written by one goroutine, so a request pays a copy under
// a mutex, not a write; Close writes what is left. A nil *Audit logs
// nothing.
type Audit struct {
	f *os.File

	mu      sync.Mutex // guards buf, err, closed
	buf     []byte     // lines not yet handed to the writer
	err     error      // the first write error; sticky
	closed  bool
	wake    *sync.Cond // signalled when buf gains lines or the log closes
	drained *sync.Cond // signalled when the writer takes buf
	done    chan struct{}
}

// OpenAudit opens (creating, mode 0600) the audit log at path for appending.
func OpenAudit(path string) (*Audit, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	a := &Audit{f: f, done: make(chan struct{})}
	a.wake = sync.NewCond(&a.mu)
	a.drained = sync.NewCond(&a.mu)
	go a.writeLoop()
	return a, nil
}

// Log appends e to the log. It waits only when the writer is far behind.
func (a *Audit) Log(e AuditEvent) {
	if a == nil {
		return
	}
	a.mu.Lock()
	for len(a.buf) >= auditBufferLimit && !a.closed && a.err == nil {
		a.drained.Wait()
	}
	if !a.closed && a.err == nil {
		a.buf = e.appendJSON(a.buf)
		a.wake.Signal()
	}
	a.mu.Unlock()
}

// writeLoop writes the buffered lines: it takes the whole buffer, writes it
// with one write(2) outside the lock, and hands the emptied slice back, until
// Close leaves nothing to write.
func (a *Audit) writeLoop() {
	defer close(a.done)
	var spare []byte
	for {
		a.mu.Lock()
		for len(a.buf) == 0 && !a.closed {
			a.wake.Wait()
		}
		if len(a.buf) == 0 {
			a.mu.Unlock()
			return
		}
		out := a.buf
		a.buf = spare[:0]
		a.drained.Broadcast()
		a.mu.Unlock()

		_, err := a.f.Write(out)
		if err != nil {
			a.mu.Lock()
			if a.err == nil {
				a.err = err
			}
			a.drained.Broadcast()
			a.mu.Unlock()
		}
		spare = out
	}
}

// Err returns the first write error, if any.
func (a *Audit) Err() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Close writes the lines still buffered, syncs and closes the file.
func (a *Audit) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	a.closed = true
	a.wake.Broadcast()
	a.drained.Broadcast()
	a.mu.Unlock()
	<-a.done
	err := a.Err()
	if serr := a.f.Sync(); err == nil {
		err = serr
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// appendJSON appends e as one JSON line.
func (e *AuditEvent) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","identity":`...)
	b = jsonenc.AppendString(b, e.Identity)
	b = append(b, `,"action":`...)
	b = jsonenc.AppendString(b, e.Action)
	b = append(b, `,"resource":`...)
	b = jsonenc.AppendString(b, e.Resource)
	b = append(b, `,"door":`...)
	b = jsonenc.AppendString(b, e.Door)
	b = append(b, `,"outcome":`...)
	b = jsonenc.AppendString(b, e.Outcome)
	if e.Remote != "" {
		b = append(b, `,"remote":`...)
		b = jsonenc.AppendString(b, e.Remote)
	}
	return append(b, "}\n"...)
}
