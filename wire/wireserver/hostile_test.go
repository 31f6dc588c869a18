package wireserver

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/budget"
	"github.com/sluicedb/sluice/internal/memstat"
	"github.com/sluicedb/sluice/wire"
)

// TestServer_DeclaredFrameSizeCostsNoMemory sends 20 frame headers that
// declare nearly 16 MiB each, through both body readers (a control
// operation and PutRecord), followed by one byte: the server must hold
// memory for what arrived, not for what was declared (320 MB).
func TestServer_DeclaredFrameSizeCostsNoMemory(t *testing.T) {
	const conns = 20
	firstByte := make(chan struct{}, conns)
	env := newTestEnvHooks(t, func(so *ServerOptions) {
		so.FrameTimeout = time.Hour
		so.Budget = budget.New(1 << 30)
	}, func(s *Server) {
		s.testHookBodyRead = func(got, size int) {
			if got == 1 && size > 1<<20 {
				firstByte <- struct{}{}
			}
		}
	})
	before := memstat.LiveHeap()
	size := wire.DefaultMaxFrameSize - 64
	for i := range conns {
		r := env.raw(t)
		op := wire.OpCreateStream
		if i%2 == 1 {
			op = wire.OpPutRecord
		}
		var hb [wire.HeaderSize]byte
		wire.PutHeader(hb[:], wire.Header{Size: size, Op: op, ID: 1})
		r.write(append(hb[:], 'x'))
	}
	for range conns {
		<-firstByte
	}
	grew := int64(memstat.LiveHeap()) - int64(before)
	if grew > 16<<20 {
		t.Fatalf("the heap grew by %d MB for %d stalled frames of one byte each; want it bounded by what arrived", grew>>20, conns)
	}
}

// TestServer_StalledFrameIsClosed: a client that stops in the middle of a
// frame is disconnected after the frame timeout, long before the idle
// timeout, and what it held goes back to the server's budget.
func TestServer_StalledFrameIsClosed(t *testing.T) {
	env := newServerEnv(t, func(so *ServerOptions) {
		so.FrameTimeout = 100 * time.Millisecond
		so.IdleTimeout = time.Hour
		so.Budget = budget.New(64 << 20)
	})
	r := env.raw(t)
	var hb [wire.HeaderSize]byte
	wire.PutHeader(hb[:], wire.Header{Size: 1 << 20, Op: wire.OpCreateStream, ID: 1})
	r.write(append(hb[:], "partial"...))
	// The raw connection's own deadline is 30 s: a server that waits for
	// the idle timeout (an hour) fails here.
	if h, _, ok := r.read(); ok {
		t.Fatalf("the server sent %+v to a stalled client; want the connection closed", h)
	}
	shutdownReturnsBudget(t, env)
}

// TestServer_SharedBudgetServesEveryoneAndReturnsToZero: with a server-wide
// budget smaller than what the clients send at once, every request is still
// served (readers wait for room instead of failing) and the budget is whole
// again at the end.
func TestServer_SharedBudgetServesEveryoneAndReturnsToZero(t *testing.T) {
	env := newServerEnv(t, func(so *ServerOptions) {
		so.Budget = budget.New(256 << 10)
	})
	setup := env.dial(client.ClientOptions{})
	env.createStream(setup, "s", 1)
	data := make([]byte, 100<<10)
	var wg sync.WaitGroup
	for range 8 {
		c := env.dial(client.ClientOptions{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				recs := []api.PutRecord{{Key: []byte{byte(i)}, Data: data}, {Key: []byte{byte(i + 1)}, Data: data}}
				res := make([]api.PutResult, len(recs))
				if _, err := c.PutRecords(testCtx(t), "s", recs, res); err != nil {
					t.Errorf("PutRecords: %v", err)
					return
				}
				for _, r := range res {
					if r.Err != nil {
						t.Errorf("record: %v", r.Err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := recordCount(t, setup, "s"); n != 160 {
		t.Fatalf("stored %d records; want 160", n)
	}
	shutdownReturnsBudget(t, env)
}

// shutdownReturnsBudget shuts the server down and checks that everything
// the connections held went back to the server's budget.
func shutdownReturnsBudget(t *testing.T, env *testEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if got := env.srv.opts.Budget.InUse(); got != 0 {
		t.Fatalf("the server's budget still holds %d bytes after every connection ended", got)
	}
}
