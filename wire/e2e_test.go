package wire

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicedb/sluice/engine"
)

func TestEndToEnd_CreatePutRead(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial(ClientOptions{})
	ctx := testCtx(t)
	info := env.createStream(c, "orders", 2)
	if info.Name != "orders" || len(info.Shards) != 2 || info.Status != engine.StatusActive {
		t.Fatalf("CreateStream returned %+v", info)
	}

	// Single puts and a batch put.
	var want [][]byte
	for i := range 10 {
		data := []byte(fmt.Sprintf("single-%d", i))
		seq, err := c.PutRecord(ctx, "orders", engine.PutRecord{Key: []byte("k"), Data: data})
		if err != nil {
			t.Fatalf("PutRecord %d: %v", i, err)
		}
		if seq.Incarnation != info.Incarnation {
			t.Fatalf("PutRecord %d: sequence %v has incarnation %d; the stream's is %d", i, seq, seq.Incarnation, info.Incarnation)
		}
		want = append(want, data)
	}
	recs := make([]engine.PutRecord, 100)
	for i := range recs {
		recs[i] = engine.PutRecord{Key: []byte("k"), Data: []byte(fmt.Sprintf("batch-%d", i))}
		want = append(want, recs[i].Data)
	}
	results := make([]engine.PutResult, len(recs))
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

	pos, err := c.GetIterator(ctx, "orders", shard, engine.IteratorSpec{Type: engine.TrimHorizon})
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
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d is %q; want %q", i, got[i], want[i])
		}
	}
}

func TestEndToEnd_Errors(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial(ClientOptions{})
	ctx := testCtx(t)
	_, err := c.DescribeStream(ctx, "missing")
	var we *Error
	if !errors.As(err, &we) || we.Name != "ResourceNotFoundException" || !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("DescribeStream of a missing stream: %v; want ResourceNotFoundException matching engine.ErrNotFound", err)
	}
	env.createStream(c, "s", 1)
	_, err = c.PutRecord(ctx, "s", engine.PutRecord{Key: nil, Data: []byte("x")})
	if !errors.Is(err, engine.ErrInvalidArgument) {
		t.Fatalf("PutRecord with an empty key: %v; want InvalidArgumentException", err)
	}
	_ = time.Second
}
