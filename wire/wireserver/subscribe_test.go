package wireserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/record"
	"github.com/sluicedb/sluice/wire"
)

// putN puts n records "<prefix>-<i>" under key into stream and returns
// their data.
func putN(t *testing.T, c *client.Client, stream, key, prefix string, n int) [][]byte {
	t.Helper()
	var out [][]byte
	recs := make([]api.PutRecord, 0, api.MaxPutRecords)
	results := make([]api.PutResult, api.MaxPutRecords)
	flush := func() {
		if len(recs) == 0 {
			return
		}
		failed, err := c.PutRecords(testCtx(t), stream, recs, results)
		if err != nil || failed != 0 {
			t.Fatalf("PutRecords: failed %d, err %v (first result %+v)", failed, err, results[0])
		}
		recs = recs[:0]
	}
	for i := range n {
		data := []byte(fmt.Sprintf("%s-%d", prefix, i))
		out = append(out, data)
		recs = append(recs, api.PutRecord{Key: []byte(key), Data: data})
		if len(recs) == cap(recs) {
			flush()
		}
	}
	flush()
	return out
}

// drain reads n records from sub and returns their data.
func drain(t *testing.T, sub *client.Subscription, n int) [][]byte {
	t.Helper()
	var got [][]byte
	for len(got) < n {
		ev, err := sub.Next(testCtx(t))
		if err != nil {
			t.Fatalf("Next after %d of %d records: %v", len(got), n, err)
		}
		for _, r := range ev.Records {
			got = append(got, r.Data)
		}
	}
	return got
}

// equalData fails the test unless got holds the records of want, in order.
func equalData(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records; want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d is %q; want %q", i, got[i], want[i])
		}
	}
}

func TestSubscribe_PushesRecordsAsCommitted(t *testing.T) {
	env, c := newStreamEnv(t, 1)
	putN(t, c, "s", "k", "old", 5)
	sub := subscribeLatest(t, c)
	defer sub.Close()
	// Records put after the subscription started arrive without polling,
	// from another connection.
	producer := env.dial(client.ClientOptions{})
	want := putN(t, producer, "s", "k", "new", 300)
	equalData(t, drain(t, sub, len(want)), want)
}

func TestSubscribe_StartPositions(t *testing.T) {
	_, c := newStreamEnv(t, 1)
	var want [][]byte
	ctx := testCtx(t)
	for i := range 10 {
		// One put each, so that the records' arrival times differ.
		want = append(want, []byte(fmt.Sprintf("r-%d", i)))
		if _, err := c.PutRecord(ctx, "s", api.PutRecord{Key: []byte("k"), Data: want[i]}); err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
	}
	res, err := c.Read(ctx, mustIterator(t, c, "s", api.IteratorSpec{Type: api.TrimHorizon}), 0, 0)
	if err != nil || len(res.Records) != 10 {
		t.Fatalf("Read: %v, %d records", err, len(res.Records))
	}
	fifth := res.Records[5].Seq.String()
	cases := []struct {
		spec  api.IteratorSpec
		first int
	}{
		{api.IteratorSpec{Type: api.TrimHorizon}, 0},
		{api.IteratorSpec{Type: api.AtSequenceNumber, Seq: fifth}, 5},
		{api.IteratorSpec{Type: api.AfterSequenceNumber, Seq: fifth}, 6},
		{api.IteratorSpec{Type: api.AtTimestamp, Timestamp: res.Records[3].Arrival}, 3},
	}
	for _, tc := range cases {
		t.Run(string(tc.spec.Type), func(t *testing.T) {
			sub, err := c.SubscribeShard(ctx, "s", api.ShardID(0), tc.spec, client.SubscribeOptions{})
			if err != nil {
				t.Fatalf("SubscribeShard: %v", err)
			}
			defer sub.Close()
			got := drain(t, sub, len(want)-tc.first)
			equalData(t, got, want[tc.first:])
		})
	}
}

func mustIterator(t *testing.T, c *client.Client, stream string, spec api.IteratorSpec) api.Position {
	t.Helper()
	pos, err := c.GetIterator(testCtx(t), stream, api.ShardID(0), spec)
	if err != nil {
		t.Fatalf("GetIterator: %v", err)
	}
	return pos
}

func TestSubscribe_SlowSubscriberIsBoundedByCredit(t *testing.T) {
	parked := make(chan int64, 1)
	env := newTestEnvHooks(t, nil, func(s *Server) {
		s.testHookCreditWait = func(sent int64) {
			select {
			case parked <- sent:
			default:
			}
		}
	})
	c := env.dial(client.ClientOptions{})
	env.createStream(c, "s", 1)
	const window, n, size = 4 << 10, 400, 1 << 10
	data := bytes.Repeat([]byte("x"), size)
	recs := make([]api.PutRecord, 100)
	results := make([]api.PutResult, 100)
	for i := range recs {
		recs[i] = api.PutRecord{Key: []byte("k"), Data: data}
	}
	for range n / len(recs) {
		if failed, err := c.PutRecords(testCtx(t), "s", recs, results); err != nil || failed != 0 {
			t.Fatalf("PutRecords: %d failed, %v", failed, err)
		}
	}
	sub, err := c.Subscribe(testCtx(t), mustIterator(t, c, "s", api.IteratorSpec{Type: api.TrimHorizon}), client.SubscribeOptions{Window: window})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	// The subscriber takes nothing: the server sends its window (plus at
	// most one record) and stops.
	sent := <-parked
	frame := int64(record.FrameSize(1, size))
	if sent <= 0 || sent > window+frame {
		t.Fatalf("the server sent %d bytes to a subscriber with a %d byte window; want at most %d", sent, window, window+frame)
	}
	// Taking the records grants credit back and the rest follow, in order.
	got := 0
	for got < n {
		ev, err := sub.Next(testCtx(t))
		if err != nil {
			t.Fatalf("Next after %d records: %v", got, err)
		}
		for _, r := range ev.Records {
			if r.Seq.Seq != uint64(got) {
				t.Fatalf("record %d has sequence %d", got, r.Seq.Seq)
			}
			got++
		}
		if b := sub.Buffered(); b > window+int(frame)+1024 {
			t.Fatalf("the client buffers %d bytes with a %d byte window", b, window)
		}
	}
}

func TestSubscribe_ShardEndCarriesChildren(t *testing.T) {
	_, c := newStreamEnv(t, 1)
	want := putN(t, c, "s", "k", "r", 20)
	sub, err := c.SubscribeShard(testCtx(t), "s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon}, client.SubscribeOptions{})
	if err != nil {
		t.Fatalf("SubscribeShard: %v", err)
	}
	equalData(t, drain(t, sub, len(want)), want)
	if err := c.SplitShard(testCtx(t), "s", api.ShardID(0), api.HashKey{Hi: 1 << 63}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	var last *client.Event
	for last == nil || !last.ShardEnd {
		if last, err = sub.Next(testCtx(t)); err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(last.Records) != 0 {
			t.Fatalf("an event after the split carries %d records of the closed shard", len(last.Records))
		}
	}
	if len(last.ChildShards) != 2 || last.ChildShards[0].Parent != api.ShardID(0) {
		t.Fatalf("the shard-end event's children are %+v; want the two halves of shard 0", last.ChildShards)
	}
	if _, err := sub.Next(testCtx(t)); err != io.EOF {
		t.Fatalf("Next after the shard end: %v; want io.EOF", err)
	}
}

func TestSubscribe_StreamDeletedEndsWithNotFound(t *testing.T) {
	_, c := newStreamEnv(t, 1)
	sub := subscribeLatest(t, c)
	// A Ping round trip after the Subscribe means the server has started
	// the subscription (frames are read in order).
	if err := c.Ping(testCtx(t), nil); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := c.DeleteStream(testCtx(t), "s", false); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	if _, err := sub.Next(testCtx(t)); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("Next after the stream's deletion: %v; want ResourceNotFoundException", err)
	}
}

func TestSubscribe_UnknownPositionFails(t *testing.T) {
	_, c := newDialedEnv(t)
	sub, err := c.Subscribe(testCtx(t), api.Position{Stream: "missing", Incarnation: 1}, client.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := sub.Next(testCtx(t)); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("Next: %v; want ResourceNotFoundException", err)
	}
}

func TestSubscribe_CancelFreesTheSlot(t *testing.T) {
	env := newServerEnv(t, func(so *ServerOptions) { so.MaxSubscriptions = 1 })
	c := env.dial(client.ClientOptions{})
	env.createStream(c, "s", 1)
	pos := mustIterator(t, c, "s", api.IteratorSpec{Type: api.TrimHorizon})
	first, err := c.Subscribe(testCtx(t), pos, client.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	over, err := c.Subscribe(testCtx(t), pos, client.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := over.Next(testCtx(t)); !errors.Is(err, api.ErrLimitExceeded) {
		t.Fatalf("a subscription over the limit: %v; want LimitExceededException", err)
	}
	first.Close()
	if _, err := first.Next(testCtx(t)); err != wire.ErrClosed {
		t.Fatalf("Next after Close: %v; want ErrClosed", err)
	}
	second, err := c.Subscribe(testCtx(t), pos, client.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer second.Close()
	want := putN(t, c, "s", "k", "r", 3)
	equalData(t, drain(t, second, 3), want)
}
