package wire

import (
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/segment"
)

// memConn is a net.Conn over bytes: reads return in (then io.EOF, or block
// until gate is closed first if gate is set), writes collect in out.
type memConn struct {
	in     *bytes.Reader
	gate   chan struct{}
	mu     sync.Mutex
	out    bytes.Buffer
	writes int
	onN    int           // close notify after this many writes
	notify chan struct{} // closed after onN writes
}

func (m *memConn) Read(p []byte) (int, error) {
	if m.gate != nil {
		<-m.gate
	}
	return m.in.Read(p)
}

func (m *memConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.out.Write(p)
	m.writes++
	if m.notify != nil && m.writes == m.onN {
		close(m.notify)
	}
	return len(p), nil
}

func (m *memConn) output() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.out.Bytes())
}

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzServer is one engine (on an in-memory file system) and server per
// fuzzing process, with stream "f" of two shards.
var fuzzServer struct {
	once sync.Once
	srv  *Server
	eng  *engine.Engine
	inc  uint32
	err  error
}

func getFuzzServer(t testing.TB) *Server {
	fuzzServer.once.Do(func() {
		eng, err := engine.Open(engine.Options{Dir: "/fuzz", FS: vfs.NewMem(), SegmentSize: 256 << 10, Logger: discardLogger()})
		if err != nil {
			fuzzServer.err = err
			return
		}
		q := ratelimit.Unlimited
		info, err := eng.CreateStream(api.CreateStreamInput{Name: "f", ShardCount: 2, Quotas: &q})
		if err != nil {
			fuzzServer.err = err
			return
		}
		srv := NewServer(eng, ServerOptions{Logger: discardLogger(), MaxFrameSize: 1 << 20, IdleTimeout: -1})
		// Operations that change the shape of streams would let the fuzzer
		// create thousands of shards; their decoders are fuzzed by
		// FuzzDecodeRequest instead.
		srv.testHookControlVeto = func(op Op) bool {
			switch op {
			case OpCreateStream, OpDeleteStream, OpSplitShard, OpMergeShards, OpUpdateShardCount:
				return true
			}
			return false
		}
		fuzzServer.srv, fuzzServer.eng, fuzzServer.inc = srv, eng, info.Incarnation
	})
	if fuzzServer.err != nil {
		t.Fatalf("fuzz server: %v", fuzzServer.err)
	}
	return fuzzServer.srv
}

// storedRecords reads every record of stream f through the engine,
// verifying each frame, and returns the count.
func storedRecords(t testing.TB) int {
	n := 0
	for shard := range 2 {
		pos := api.Position{Stream: "f", Incarnation: fuzzServer.inc, Shard: shard}
		var res engine.ReadResult
		for {
			if err := fuzzServer.eng.Read(pos, 0, 0, engine.ReadSubscription, &res); err != nil {
				t.Fatalf("read stream f: %v", err)
			}
			it := segment.NewFrameIter(res.Frames())
			k := 0
			for _, ok := it.Next(); ok; _, ok = it.Next() {
				k++
			}
			if it.Err() != nil || k != res.Records {
				t.Fatalf("stored frames of stream f fail to verify: %v (%d of %d)", it.Err(), k, res.Records)
			}
			n += k
			pos = res.Next
			res.Release()
			if k == 0 {
				break
			}
		}
	}
	return n
}

func fuzzSeedFrames() [][]byte {
	pos := api.Position{Stream: "f", Shard: 0}
	put := putRecordBody("f", "k", "fuzz")
	puts := (&reqPutRecords{Stream: []byte("f"), Recs: []api.PutRecord{{Key: []byte("a"), Data: []byte("1")}, {Key: []byte("b"), Data: []byte("2")}}}).appendTo(nil)
	return [][]byte{
		frame(OpPing, 0, 1, []byte("hello")),
		frame(OpPutRecord, 0, 2, put),
		append(frame(OpPutRecord, 0, 3, put), frame(OpPutRecord, 0, 4, put)...),
		frame(OpPutRecords, 0, 5, puts),
		frame(OpDescribeStream, 0, 6, appendStr(nil, "f")),
		frame(OpListShards, 0, 7, appendStr(nil, "f")),
		frame(OpListStreams, 0, 8, nil),
		frame(OpGetIterator, 0, 9, (&reqGetIterator{Stream: "f", Type: api.TrimHorizon}).appendTo(nil)),
		frame(OpRead, 0, 10, (&reqRead{Pos: pos}).appendTo(nil)),
		append(frame(OpSubscribe, 0, 11, (&reqSubscribe{Pos: pos, Credit: 100}).appendTo(nil)),
			append(frame(OpCredit, 0, 11, appendU32(nil, 1000)), frame(OpCancel, 0, 11, nil)...)...),
		frame(OpAddTags, 0, 12, (&reqAddTags{Stream: "f", Tags: map[string]string{"a": "b"}}).appendTo(nil)),
		frame(OpListTags, 0, 13, appendStr(nil, "f")),
		frame(OpCreateStream, 0, 14, (&reqCreateStream{In: api.CreateStreamInput{Name: "g", ShardCount: 1}}).appendTo(nil)),
		frame(0x55, 0, 15, []byte{1, 2, 3}),
		{5, 0, 0, 0, 1, 0, 0, 0},
	}
}

// FuzzServerFrames feeds arbitrary bytes after a valid hello (or, with a
// leading 0xFF, instead of one) to a server connection. The server must
// return without crashing, every frame it sends must parse (errors decode,
// read results verify), and the stream must gain exactly the records whose
// puts it acknowledged.
func FuzzServerFrames(f *testing.F) {
	for _, s := range fuzzSeedFrames() {
		f.Add(s)
	}
	f.Add([]byte{0xFF, 'S', 'L', 'C', 'W', 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := getFuzzServer(t)
		var input []byte
		if len(data) > 0 && data[0] == 0xFF {
			input = data[1:]
		} else {
			h := hello{version: Version, maxFrame: 1 << 20}.marshal()
			input = append(h[:], data...)
		}
		before := storedRecords(t)
		mc := &memConn{in: bytes.NewReader(input)}
		c := newConn(srv, mc)
		done := make(chan struct{})
		go func() {
			c.serve()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the server did not finish a connection whose input ended")
		}
		acked := checkServerOutput(t, mc.output())
		if after := storedRecords(t); after != before+acked {
			t.Fatalf("the stream went from %d to %d records, but the server acknowledged %d puts", before, after, acked)
		}
	})
}

// checkServerOutput parses what the server sent and returns the number of
// records whose puts it acknowledged.
func checkServerOutput(t *testing.T, out []byte) int {
	if len(out) == 0 {
		return 0
	}
	if len(out) < helloSize {
		t.Fatalf("the server sent %d bytes, less than a hello", len(out))
	}
	h, err := readHello(bytes.NewReader(out[:helloSize]))
	if err != nil {
		t.Fatalf("server hello: %v", err)
	}
	out = out[helloSize:]
	if h.status != statusOK && len(out) > 0 {
		t.Fatalf("the server sent %d bytes after refusing the hello", len(out))
	}
	acked := 0
	for len(out) > 0 {
		if len(out) < HeaderSize {
			t.Fatalf("the server sent a partial header")
		}
		fh, err := parseHeader(out, 1<<20)
		if err != nil || fh.size > len(out) {
			t.Fatalf("the server sent a bad frame header %+v: %v", fh, err)
		}
		body := out[HeaderSize:fh.size]
		out = out[fh.size:]
		if fh.flags&FlagError != 0 || fh.op == OpGoAway {
			if _, err := decodeError(body); err != nil {
				t.Fatalf("the server sent a bad error body: %v", err)
			}
			continue
		}
		switch fh.op {
		case OpPutRecord:
			var m respSeq
			if err := decodeMessage(body, &m); err != nil {
				t.Fatalf("bad PutRecord response: %v", err)
			}
			acked++
		case OpPutRecords:
			var m respPutRecords
			if err := decodeMessage(body, &m); err != nil {
				t.Fatalf("bad PutRecords response: %v", err)
			}
			acked += len(m.Results) - m.Failed
		case OpRead, OpEvent:
			var head resultHead
			frames, err := decodeResult(body, &head)
			if err != nil {
				t.Fatalf("bad %v result: %v", fh.op, err)
			}
			if _, _, err := decodeRecords(frames, &head, nil); err != nil {
				t.Fatalf("the server sent records that fail to verify: %v", err)
			}
		}
	}
	return acked
}

// FuzzClientFrames feeds arbitrary bytes from a "server" to a client with
// calls and a subscription in flight: every call must return and nothing
// may crash.
func FuzzClientFrames(f *testing.F) {
	pos := api.Position{Stream: "f", Incarnation: 1}
	head := resultHead{Next: api.Position{Stream: "f", Incarnation: 1, Seq: 1}, Records: 1}
	rec := make([]byte, segment.FrameSize(1, 1))
	segment.PutFrame(rec, 0, 1, 0, []byte("k"), []byte("v"))
	head.FramesLen = uint32(len(rec))
	result := append(head.appendTo(nil), rec...)
	f.Add(frame(OpPing, 0, 1, []byte("x")))
	f.Add(frame(OpRead, 0, 2, result))
	f.Add(append(frame(OpEvent, 0, 3, result), frame(OpSubscribe, 0, 3, nil)...))
	f.Add(frame(OpPutRecords, 0, 4, (&respPutRecords{Results: []api.PutResult{{}}}).appendTo(nil)))
	f.Add(frame(OpGoAway, 0, 0, appendError(nil, "InternalFailureException", "bye")))
	f.Add(frame(OpRead, FlagError, 2, appendError(nil, "ResourceNotFoundException", "no")))
	f.Fuzz(func(t *testing.T, data []byte) {
		sh := hello{version: Version, maxFrame: 1 << 20}.marshal()
		gate := make(chan struct{})
		// The client's hello is the first write; the four requests follow.
		mc := &memConn{in: bytes.NewReader(append(sh[:], data...)), onN: 5, notify: make(chan struct{})}
		hs := &gatedConn{memConn: mc, gate: gate, free: helloSize}
		c, err := NewClient(context.Background(), hs, ClientOptions{MaxFrameSize: 1 << 20})
		if err != nil {
			t.Fatalf("NewClient: %v", err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		wg.Add(4)
		go func() { defer wg.Done(); c.Ping(ctx, []byte("x")) }()
		go func() {
			defer wg.Done()
			if res, err := c.Read(ctx, pos, 0, 0); err == nil {
				res.Release()
			}
		}()
		go func() {
			defer wg.Done()
			sub, err := c.Subscribe(ctx, pos, SubscribeOptions{})
			if err != nil {
				return
			}
			for {
				if _, err := sub.Next(ctx); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			c.PutRecords(ctx, "f", []api.PutRecord{{Key: []byte("k")}}, make([]api.PutResult, 1))
		}()
		select {
		case <-mc.notify:
		case <-ctx.Done():
			t.Fatal("the client did not send its requests")
		}
		close(gate)
		wg.Wait()
		if ctx.Err() != nil {
			t.Fatal("a call did not return after the connection's input ended")
		}
	})
}

// gatedConn lets the first free bytes (the hello) through at once and the
// rest once gate is closed.
type gatedConn struct {
	*memConn
	gate chan struct{}
	free int
}

func (g *gatedConn) Read(p []byte) (int, error) {
	if g.free > 0 {
		n, err := g.memConn.in.Read(p[:min(len(p), g.free)])
		g.free -= n
		return n, err
	}
	<-g.gate
	return g.memConn.in.Read(p)
}

// FuzzDecodeRequest decodes arbitrary bodies as each message. Decoding
// never crashes; a body that decodes re-encodes to bytes that decode to the
// same message.
func FuzzDecodeRequest(f *testing.F) {
	for i, tc := range codecCases() {
		f.Add(uint8(i), tc.in.appendTo(nil))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		cases := codecCases()
		tc := cases[int(which)%len(cases)]
		fresh := func() message { return reflect.New(reflect.TypeOf(tc.into).Elem()).Interface().(message) }
		m := fresh()
		if err := decodeMessage(body, m); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode error %v does not match ErrMalformed", err)
			}
			return
		}
		again := fresh()
		if err := decodeMessage(m.appendTo(nil), again); err != nil {
			t.Fatalf("re-encoded message fails to decode: %v", err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the message:\n %+v\n %+v", m, again)
		}
	})
}

// FuzzDecodeResult decodes arbitrary read result bodies and verifies their
// records: no crash, and a result that verifies has exactly the records it
// claims.
func FuzzDecodeResult(f *testing.F) {
	head := resultHead{Next: api.Position{Stream: "f", Seq: 2}, Records: 2}
	var frames []byte
	for i := range 2 {
		rec := make([]byte, segment.FrameSize(1, 3))
		segment.PutFrame(rec, uint64(i), int64(i), 0, []byte("k"), []byte("abc"))
		frames = append(frames, rec...)
	}
	head.FramesLen = uint32(len(frames))
	f.Add(append(head.appendTo(nil), frames...))
	f.Add((&resultHead{ShardEnd: true, Children: []api.ShardInfo{testShard(1)}}).appendTo(nil))
	f.Fuzz(func(t *testing.T, body []byte) {
		var h resultHead
		frames, err := decodeResult(body, &h)
		if err != nil {
			return
		}
		recs, _, err := decodeRecords(frames, &h, nil)
		if err == nil && len(recs) != int(h.Records) {
			t.Fatalf("verified %d records; the head says %d", len(recs), h.Records)
		}
	})
}
