package wireserver

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/wire"
)

func TestProducer_BatchesAndStoresEverything(t *testing.T) {
	_, c := newStreamEnv(t, 2)
	var mu sync.Mutex
	seqs := map[api.SeqNum]string{}
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", MaxBatchRecords: 100, Linger: time.Hour,
		OnResult: func(r client.ProducerResult) {
			if r.Err != nil {
				t.Errorf("record %q failed: %v", r.Data, r.Err)
				return
			}
			mu.Lock()
			seqs[r.Seq] = string(r.Data)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1050
	buf := make([]byte, 0, 32)
	for i := range n {
		// The producer copies: reusing buf must not change queued records.
		buf = fmt.Appendf(buf[:0], "record-%d", i)
		if err := p.Put(testCtx(t), []byte(fmt.Sprint("key-", i%13)), buf); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	// With a one-hour linger, only full batches went out before Flush.
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	st := p.Stats()
	if st.Stored != n || st.Failed != 0 || st.Requests != (n+99)/100 {
		t.Fatalf("stats %+v; want %d stored in %d requests of at most 100", st, n, (n+99)/100)
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Put(testCtx(t), []byte("k"), []byte("v")); err != wire.ErrClosed {
		t.Fatalf("Put after Close: %v; want ErrClosed", err)
	}
	if len(seqs) != n {
		t.Fatalf("%d distinct sequence numbers; want %d", len(seqs), n)
	}
	if got := recordCount(t, c, "s") + eachRecord(t, c, "s", 1, nil); got != n {
		t.Fatalf("the stream holds %d records; want %d", got, n)
	}
}

func TestProducer_LingerSendsPartialBatches(t *testing.T) {
	_, c := newStreamEnv(t, 1)
	done := make(chan client.ProducerResult, 1)
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", Linger: time.Millisecond, OnResult: func(r client.ProducerResult) { done <- r }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(testCtx(t))
	if err := p.Put(testCtx(t), []byte("k"), []byte("lonely")); err != nil {
		t.Fatal(err)
	}
	// No Flush: the linger timer sends the one-record batch.
	if r := <-done; r.Err != nil || string(r.Data) != "lonely" || r.Attempts != 1 {
		t.Fatalf("result %+v; want the record stored on the first attempt", r)
	}
}

func TestProducer_RetriesThrottledRecords(t *testing.T) {
	_, c := newDialedEnv(t)
	// 400 records/s with a burst of one second: 800 records need retries.
	q := ratelimit.Limits{WriteRecordsPerSec: 400}
	if _, err := c.CreateStream(testCtx(t), api.CreateStreamInput{Name: "s", ShardCount: 1, Quotas: &q}); err != nil {
		t.Fatal(err)
	}
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", MaxAttempts: 100, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 800 {
		if err := p.Put(testCtx(t), []byte("k"), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := p.Stats()
	if st.Stored != 800 || st.Retried == 0 {
		t.Fatalf("stats %+v; want all 800 stored after some retries", st)
	}
	if n := recordCount(t, c, "s"); n != 800 {
		t.Fatalf("the stream holds %d records; want 800", n)
	}
}

func TestProducer_ReportsPermanentFailures(t *testing.T) {
	_, c := newDialedEnv(t)
	var mu sync.Mutex
	var failed int
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "missing", OnResult: func(r client.ProducerResult) {
		mu.Lock()
		defer mu.Unlock()
		if r.Err != nil && r.Attempts == 1 {
			failed++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		p.Put(testCtx(t), []byte("k"), []byte("v"))
	}
	err = p.Flush(testCtx(t))
	var pe *client.ProducerError
	if !errors.As(err, &pe) || pe.Failed != 3 || !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("Flush: %v; want a ProducerError of 3 records wrapping ResourceNotFoundException", err)
	}
	if failed != 3 {
		t.Fatalf("OnResult saw %d failures after one attempt each; want 3", failed)
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatalf("a second Flush: %v; want nil (errors are reported once)", err)
	}
	p.Close(testCtx(t))
}

func TestProducer_PutBlocksAtMaxBuffered(t *testing.T) {
	_, c := newStreamEnv(t, 1)
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", MaxBuffered: 64, Linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(testCtx(t))
	data := make([]byte, 60)
	if err := p.Put(testCtx(t), []byte("k"), data); err != nil {
		t.Fatal(err)
	}
	// The buffer is full and the batch lingers: a second Put waits until
	// its context ends.
	ctx, cancel := contextWithCancel(t)
	cancel()
	if err := p.Put(ctx, []byte("k"), data); err != ctx.Err() {
		t.Fatalf("Put over MaxBuffered: %v; want the context's error", err)
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Put(testCtx(t), []byte("k"), data); err != nil {
		t.Fatalf("Put after the buffer drained: %v", err)
	}
}
