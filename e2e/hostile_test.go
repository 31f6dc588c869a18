//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/soak"
	"github.com/sluicedb/sluice/wire"
)

// memoryBound is how much a hostile test may raise the server's peak
// resident set or Go heap: the attacks declare 320 to 640 MB and send
// almost nothing, or send 15 MB that a naive decoder makes a gigabyte of,
// so a server that sizes buffers by what arrived stays far below it, and
// one that believes the declarations exceeds it several times over.
const memoryBound = 64 << 20

// closeWait is how long a raw connection waits for the server to close
// it: far beyond the 1 s timeouts the tests set, and short enough to fail
// a server without them inside the test's time.
const closeWait = 30 * time.Second

// TestHostile runs each attack against its own sluiced process, built
// once, and checks what the attacker cost the server.
func TestHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sluiced and runs server processes; skipped with -short")
	}
	if err := soak.CheckProc(); err != nil {
		t.Skipf("the memory checks read /proc: %v", err)
	}
	bin, err := soak.Build(t.TempDir(), raceEnabled)
	if err != nil {
		t.Skipf("cannot build sluiced: %v", err)
	}
	t.Run("DeclaredHTTPBodies", func(t *testing.T) { testDeclaredHTTPBodies(t, bin) })
	t.Run("DeclaredFrames", func(t *testing.T) { testDeclaredFrames(t, bin) })
	t.Run("EmptyRecordsBody", func(t *testing.T) { testEmptyRecordsBody(t, bin) })
	t.Run("StalledHTTPBody", func(t *testing.T) { testStalledHTTPBody(t, bin) })
	t.Run("BudgetWaitIsAnswered", func(t *testing.T) { testBudgetWaitIsAnswered(t, bin) })
}

// startHostile starts sluiced with extra flags on a fresh directory and
// kills it when the test ends.
func startHostile(t *testing.T, bin string, extra ...string) *soak.Server {
	t.Helper()
	srv, err := soak.Start(bin, t.TempDir(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Kill)
	return srv
}

func memory(t *testing.T, srv *soak.Server) soak.Memory {
	t.Helper()
	m, err := srv.Memory()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func metric(t *testing.T, srv *soak.Server, name string) (float64, bool) {
	t.Helper()
	v, ok, err := soak.Metric(context.Background(), srv.HTTPAddr, name)
	if err != nil {
		t.Fatal(err)
	}
	return v, ok
}

// pollUntil checks cond every 20 ms until it holds or limit passes: the
// server is another process, so there is no event to wait on.
func pollUntil(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// awaitBudgetEmpty checks that the server's in-flight budget goes back to
// zero once the attacker's connections are gone.
func awaitBudgetEmpty(t *testing.T, srv *soak.Server) {
	t.Helper()
	inUse, ok := metric(t, srv, "sluice_inflight_bytes")
	if !ok {
		t.Fatal("the server's /metrics has no sluice_inflight_bytes")
	}
	if !pollUntil(10*time.Second, func() bool { inUse, _ = metric(t, srv, "sluice_inflight_bytes"); return inUse == 0 }) {
		t.Fatalf("the server's in-flight budget still holds %.0f bytes 10 s after the attacker's connections closed", inUse)
	}
}

// testDeclaredHTTPBodies: 40 connections that declare a 16 MB PutRecords
// body and send one byte cost the server memory for what arrived, not the
// 640 MB declared. The server's peak resident set and its Go heap in use
// are both checked: a buffer of the declared size that the kernel has not
// yet backed with pages does not show in the resident set, but it is
// already charged to the heap, and the first body that does arrive
// fills it.
func testDeclaredHTTPBodies(t *testing.T, bin string) {
	const (
		conns    = 40
		declared = 16_000_000
	)
	srv := startHostile(t, bin)
	before := memory(t, srv)
	heapBefore, _ := metric(t, srv, "go_memstats_heap_inuse_bytes")
	var ncs []net.Conn
	for range conns {
		nc, err := soak.StallHTTPBody(srv.HTTPAddr, "PutRecords", declared, []byte("{"))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		ncs = append(ncs, nc)
	}
	// Every handler has its body's reservation once the budget shows all
	// of them; a server that allocates the declared sizes shows it in its
	// heap first.
	var reserved, heap float64
	if !pollUntil(15*time.Second, func() bool {
		reserved, _ = metric(t, srv, "sluice_inflight_bytes")
		heap, _ = metric(t, srv, "go_memstats_heap_inuse_bytes")
		return reserved >= conns*declared || heap-heapBefore > memoryBound
	}) {
		t.Fatalf("after 15 s the server has reserved %.0f bytes for %d bodies of %d declared bytes", reserved, conns, declared)
	}
	after := memory(t, srv)
	t.Logf("%d stalled bodies declaring %d MB in all: peak resident %s -> %s, heap in use %s -> %s",
		conns, conns*declared/1_000_000, soak.MiB(before.Peak), soak.MiB(after.Peak), soak.MiB(int64(heapBefore)), soak.MiB(int64(heap)))
	if grew := heap - heapBefore; grew > memoryBound {
		t.Errorf("the heap in use grew by %s for %d bodies that sent one byte each; want under %s", soak.MiB(int64(grew)), conns, soak.MiB(memoryBound))
	}
	if grew := after.Peak - before.Peak; grew > memoryBound {
		t.Errorf("the peak resident set grew by %s for %d bodies that sent one byte each; want under %s", soak.MiB(grew), conns, soak.MiB(memoryBound))
	}
	for _, nc := range ncs {
		nc.Close()
	}
	awaitBudgetEmpty(t, srv)
}

// testDeclaredFrames: 20 binary-protocol connections that send a frame
// header declaring 16 MiB and nothing more cost the server memory for what
// arrived, and are closed after --frame-timeout; a normal client works
// afterwards.
func testDeclaredFrames(t *testing.T, bin string) {
	const (
		conns        = 20
		frameTimeout = time.Second
	)
	srv := startHostile(t, bin, "--frame-timeout", frameTimeout.String())
	before := memory(t, srv)
	type outcome struct {
		first   []byte
		err     error
		elapsed time.Duration
	}
	outcomes := make([]outcome, conns)
	var wg sync.WaitGroup
	for i := range conns {
		// The clock starts before the header is sent: the server's
		// timeout runs from the header's arrival, which may come before
		// this goroutine runs again.
		sent := time.Now()
		nc, err := soak.StallFrame(srv.WireAddr, wire.OpPutRecords, wire.DefaultMaxFrameSize)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := soak.AwaitClose(nc, closeWait)
			outcomes[i] = outcome{first, err, time.Since(sent)}
		}()
	}
	wg.Wait()
	after := memory(t, srv)
	t.Logf("%d stalled frames declaring %d MiB each: peak resident %s -> %s",
		conns, wire.DefaultMaxFrameSize>>20, soak.MiB(before.Peak), soak.MiB(after.Peak))
	for i, o := range outcomes {
		switch {
		case o.err != nil:
			t.Errorf("stalled frame %d: %v; want the server to close the connection after the %v frame timeout", i, o.err, frameTimeout)
		case o.elapsed < frameTimeout:
			t.Errorf("stalled frame %d: closed after %v, before the %v frame timeout", i, o.elapsed, frameTimeout)
		case len(o.first) > 0 && !isGoAway(o.first):
			t.Errorf("stalled frame %d: the server sent %q before closing; want nothing or a GoAway frame", i, o.first)
		}
	}
	if grew := after.Peak - before.Peak; grew > memoryBound {
		t.Errorf("the peak resident set grew by %s for %d frames that sent only their headers; want under %s", soak.MiB(grew), conns, soak.MiB(memoryBound))
	}
	awaitBudgetEmpty(t, srv)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, srv.WireAddr, client.ClientOptions{})
	if err != nil {
		t.Fatalf("a normal client after the attack: %v", err)
	}
	defer cl.Close()
	if _, err := cl.CreateStream(ctx, api.CreateStreamInput{Name: "after", ShardCount: 1}); err != nil {
		t.Fatalf("create a stream after the attack: %v", err)
	}
	seq, err := cl.PutRecord(ctx, "after", api.PutRecord{Key: []byte("k"), Data: []byte("still serving")})
	if err != nil {
		t.Fatalf("put after the attack: %v", err)
	}
	pos, err := cl.GetIterator(ctx, "after", api.ShardID(int(seq.Shard)), api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.Read(ctx, pos, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	if len(res.Records) != 1 || res.Records[0].Seq != seq || string(res.Records[0].Data) != "still serving" {
		t.Fatalf("read after the attack: %d records; want the one put at %v", len(res.Records), seq)
	}
}

// isGoAway reports whether b starts with a whole GoAway frame.
func isGoAway(b []byte) bool {
	if len(b) < wire.HeaderSize {
		return false
	}
	h, err := wire.ParseHeader(b, wire.DefaultMaxFrameSize)
	return err == nil && h.Op == wire.OpGoAway && h.ID == 0 && len(b) >= h.Size
}

// testEmptyRecordsBody: a 15 MB PutRecords body of empty entries
// ({"StreamName":"s","Records":[{},{},...]}) is answered with an error
// without decoding five million entries first.
func testEmptyRecordsBody(t *testing.T, bin string) {
	srv := startHostile(t, bin)
	const size = 15_000_000
	var body bytes.Buffer
	body.WriteString(`{"StreamName":"s","Records":[{}`)
	for body.Len() < size-3 {
		body.WriteString(",{}")
	}
	body.WriteString("]}")
	before := memory(t, srv)
	// The whole body, as declared: nothing stalls here.
	nc, err := soak.StallHTTPBody(srv.HTTPAddr, "PutRecords", int64(body.Len()), body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(closeWait))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("no answer to a %d-byte body of empty entries: %v", body.Len(), err)
	}
	resp.Body.Close()
	after := memory(t, srv)
	t.Logf("a %d MB body of empty entries: %s; peak resident %s -> %s", body.Len()/1_000_000, resp.Status, soak.MiB(before.Peak), soak.MiB(after.Peak))
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("a PutRecords body of %d empty entries was answered %s; want a client error", body.Len()/3, resp.Status)
	}
	// The body itself (15 MB, within the 16 MiB limit of a data operation)
	// is read whole, growing as it arrives; a race-instrumented server
	// keeps shadow memory for every heap byte on top.
	bound := int64(memoryBound)
	if raceEnabled {
		bound *= 2
	}
	if grew := after.Peak - before.Peak; grew > bound {
		t.Errorf("the peak resident set grew by %s for a %d MB body; want under %s", soak.MiB(grew), body.Len()/1_000_000, soak.MiB(bound))
	}
}

// testStalledHTTPBody: a client that sends a request's headers and then
// none of its body is answered and disconnected after --body-timeout.
func testStalledHTTPBody(t *testing.T, bin string) {
	const bodyTimeout = time.Second
	srv := startHostile(t, bin, "--body-timeout", bodyTimeout.String())
	sent := time.Now() // before the headers go: the timeout runs from their arrival
	nc, err := soak.StallHTTPBody(srv.HTTPAddr, "PutRecords", 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The connection's own deadline is closeWait: a server without a body
	// timeout fails here.
	nc.SetReadDeadline(sent.Add(closeWait))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body within %v: %v", closeWait, err)
	}
	msg, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer to a stalled body: %v", err)
	}
	if resp.StatusCode != http.StatusBadRequest || !resp.Close {
		t.Errorf("a stalled body was answered %s %s (Connection: close %v); want 400 and close", resp.Status, msg, resp.Close)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after answering a stalled body the server left the connection open (read: %v); want it closed", err)
	}
	if elapsed := time.Since(sent); elapsed < bodyTimeout {
		t.Errorf("the stalled body was cut off after %v, before the %v body timeout", elapsed, bodyTimeout)
	} else {
		t.Logf("a stalled body was answered %s and its connection closed %v after the headers", resp.Status, elapsed.Round(time.Millisecond))
	}
	awaitBudgetEmpty(t, srv)
}

// testBudgetWaitIsAnswered: a stalled body that declared the whole
// in-flight budget makes a normal PutRecords wait for it until the body
// timeout frees it; the put is then carried out and must be answered,
// although the wait was longer than --write-timeout.
func testBudgetWaitIsAnswered(t *testing.T, bin string) {
	const budget = 16_000_000
	srv := startHostile(t, bin, "--max-inflight-total", "16000000", "--body-timeout", "3s", "--write-timeout", "1s")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, srv.WireAddr, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.CreateStream(ctx, api.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	nc, err := soak.StallHTTPBody(srv.HTTPAddr, "PutRecords", budget, []byte("{"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var reserved float64
	if !pollUntil(10*time.Second, func() bool { reserved, _ = metric(t, srv, "sluice_inflight_bytes"); return reserved >= budget }) {
		t.Fatalf("the stalled body's reservation did not show in the budget (%.0f bytes)", reserved)
	}
	body := `{"StreamName":"s","Records":[{"Data":"d2FpdGVk","PartitionKey":"k"}]}`
	put, err := soak.StallHTTPBody(srv.HTTPAddr, "PutRecords", int64(len(body)), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	defer put.Close()
	put.SetReadDeadline(time.Now().Add(closeWait))
	resp, err := http.ReadResponse(bufio.NewReader(put), nil)
	if err != nil {
		t.Fatalf("a PutRecords that waited for the budget got no answer: %v", err)
	}
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a PutRecords that waited for the budget was answered %s %s; want 200", resp.Status, msg)
	}
}
