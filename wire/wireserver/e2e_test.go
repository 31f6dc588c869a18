package wireserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/wire"
)

func TestEndToEnd_CreatePutRead(t *testing.T) {
	env, c := newDialedEnv(t)
	ctx := testCtx(t)
	info := env.createStream(c, "orders", 2)
	if info.Name != "orders" || len(info.Shards) != 2 || info.Status != api.StatusActive {
		t.Fatalf("CreateStream returned %+v", info)
	}

	// Single puts and a batch put.
	var want [][]byte
	for i := range 10 {
		data := []byte(fmt.Sprintf("single-%d", i))
		seq, err := c.PutRecord(ctx, "orders", api.PutRecord{Key: []byte("k"), Data: data})
		if err != nil {
			t.Fatalf("PutRecord %d: %v", i, err)
		}
		if seq.Incarnation != info.Incarnation {
			t.Fatalf("PutRecord %d: sequence %v has incarnation %d; the stream's is %d", i, seq, seq.Incarnation, info.Incarnation)
		}
		want = append(want, data)
	}
	recs := make([]api.PutRecord, 100)
	for i := range recs {
		recs[i] = api.PutRecord{Key: []byte("k"), Data: []byte(fmt.Sprintf("batch-%d", i))}
		want = append(want, recs[i].Data)
	}
	results := make([]api.PutResult, len(recs))
	failed, err := c.PutRecords(ctx, "orders", recs, results)
	if err != nil || failed != 0 {
		t.Fatalf("PutRecords: failed %d, err %v", failed, err)
	}
	shard := results[0].ShardID
	for i, r := range results {
		if r.Err != nil || r.ShardID != shard {
			t.Fatalf("result %d: %+v; want stored on %s", i, r, shard)
		}
		if i > 0 && r.Seq.Seq != results[i-1].Seq.Seq+1 {
			t.Fatalf("result %d: sequence %d after %d; want consecutive", i, r.Seq.Seq, results[i-1].Seq.Seq)
		}
	}

	pos, err := c.GetIterator(ctx, "orders", shard, api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatalf("GetIterator: %v", err)
	}
	var got [][]byte
	for len(got) < len(want) {
		res, err := c.Read(ctx, pos, 7, 0)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(res.Records) == 0 {
			t.Fatalf("Read returned no records after %d of %d", len(got), len(want))
		}
		for _, r := range res.Records {
			got = append(got, bytes.Clone(r.Data))
		}
		pos = res.Next
		res.Release()
	}
	equalData(t, got, want)
}

func TestEndToEnd_Errors(t *testing.T) {
	env, c := newDialedEnv(t)
	ctx := testCtx(t)
	_, err := c.DescribeStream(ctx, "missing")
	var we *wire.Error
	if !errors.As(err, &we) || we.Name != "ResourceNotFoundException" || !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("DescribeStream of a missing stream: %v; want ResourceNotFoundException matching engine.ErrNotFound", err)
	}
	env.createStream(c, "s", 1)
	_, err = c.PutRecord(ctx, "s", api.PutRecord{Key: nil, Data: []byte("x")})
	if !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("PutRecord with an empty key: %v; want InvalidArgumentException", err)
	}
	_ = time.Second
}

func TestClient_PutRecordAsync(t *testing.T) {
	_, c := newStreamEnv(t, 2)
	const n = 3000
	type outcome struct {
		i   int
		seq api.SeqNum
		err error
	}
	done := make(chan outcome, n)
	for i := range n {
		data := []byte(fmt.Sprint(i))
		if err := c.PutRecordAsync("s", api.PutRecord{Key: data, Data: data}, func(seq api.SeqNum, err error) {
			done <- outcome{i, seq, err}
		}); err != nil {
			t.Fatalf("PutRecordAsync: %v", err)
		}
	}
	seqs := map[api.SeqNum]int{}
	for range n {
		o := <-done
		if o.err != nil {
			t.Fatalf("record %d: %v", o.i, o.err)
		}
		seqs[o.seq] = o.i
	}
	if len(seqs) != n {
		t.Fatalf("%d distinct sequence numbers for %d records", len(seqs), n)
	}
	// Each callback got its own record's sequence number.
	for shard := range 2 {
		eachRecord(t, c, "s", shard, func(r client.Record) {
			if fmt.Sprint(seqs[r.Seq]) != string(r.Data) {
				t.Fatalf("record %v holds %q; its callback was for record %d", r.Seq, r.Data, seqs[r.Seq])
			}
		})
	}

	// Errors reach the callback: the server's, and a lost connection's.
	errs := make(chan error, 2)
	if err := c.PutRecordAsync("missing", api.PutRecord{Key: []byte("k")}, func(_ api.SeqNum, err error) { errs <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("an async put to a missing stream: %v; want ResourceNotFoundException", err)
	}
	c.Close()
	if err := c.PutRecordAsync("s", api.PutRecord{Key: []byte("k")}, func(api.SeqNum, error) {
		t.Error("the callback of a put that was refused ran")
	}); err != wire.ErrClosed {
		t.Fatalf("PutRecordAsync after Close: %v; want ErrClosed", err)
	}
}

func TestClient_PendingCallsFailWhenTheConnectionDrops(t *testing.T) {
	// A "server" that completes the handshake, reads one request, never
	// answers and hangs up.
	l := listenLoopback(t)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		io.ReadFull(nc, make([]byte, wire.HelloSize))
		h := wire.Hello{Version: wire.Version, MaxFrame: wire.DefaultMaxFrameSize}.Marshal()
		nc.Write(h[:])
		io.ReadFull(nc, make([]byte, wire.HeaderSize))
	}()
	c, err := client.Dial(testCtx(t), l.Addr().String(), client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	asyncErr := make(chan error, 1)
	if err := c.PutRecordAsync("s", api.PutRecord{Key: []byte("k")}, func(_ api.SeqNum, err error) { asyncErr <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-asyncErr; !errors.Is(err, wire.ErrConnectionLost) {
		t.Fatalf("an async put when the connection dropped: %v; want ErrConnectionLost", err)
	}
	if _, err := c.ListStreams(testCtx(t)); !errors.Is(err, wire.ErrConnectionLost) {
		t.Fatalf("a call after the connection dropped: %v; want ErrConnectionLost", err)
	}
}
