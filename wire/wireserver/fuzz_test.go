package wireserver

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/record"
	"github.com/sluicedb/sluice/wire"
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
		fs := vfs.NewMem()
		keys, err := kms.Open("/fuzz-kms", kms.Options{FS: fs, Create: true})
		if err != nil {
			fuzzServer.err = err
			return
		}
		eng, err := engine.Open(engine.Options{Dir: "/fuzz", FS: fs, SegmentSize: 256 << 10, Logger: discardLogger(), Keys: keys})
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
		srv.testHookControlVeto = func(op wire.Op) bool {
			switch op {
			case wire.OpCreateStream, wire.OpDeleteStream, wire.OpSplitShard, wire.OpMergeShards, wire.OpUpdateShardCount:
				return true
			case wire.OpCreateKey, wire.OpRotateKey, wire.OpDisableKey:
				// Keys and versions would pile up in the keyring, and a
				// disabled key would leave stream f unreadable to the
				// checks.
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
			it := record.NewFrameIter(res.Frames())
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
	puts := (&wire.ReqPutRecords{Stream: []byte("f"), Recs: []api.PutRecord{{Key: []byte("a"), Data: []byte("1")}, {Key: []byte("b"), Data: []byte("2")}}}).AppendTo(nil)
	return [][]byte{
		frame(wire.OpPing, 0, 1, []byte("hello")),
		frame(wire.OpPutRecord, 0, 2, put),
		append(frame(wire.OpPutRecord, 0, 3, put), frame(wire.OpPutRecord, 0, 4, put)...),
		frame(wire.OpPutRecords, 0, 5, puts),
		frame(wire.OpDescribeStream, 0, 6, wire.AppendStr(nil, "f")),
		frame(wire.OpListShards, 0, 7, wire.AppendStr(nil, "f")),
		frame(wire.OpListStreams, 0, 8, nil),
		frame(wire.OpGetIterator, 0, 9, (&wire.ReqGetIterator{Stream: "f", Type: api.TrimHorizon}).AppendTo(nil)),
		frame(wire.OpRead, 0, 10, (&wire.ReqRead{Pos: pos}).AppendTo(nil)),
		append(frame(wire.OpSubscribe, 0, 11, (&wire.ReqSubscribe{Pos: pos, Credit: 100}).AppendTo(nil)),
			append(frame(wire.OpCredit, 0, 11, wire.AppendU32(nil, 1000)), frame(wire.OpCancel, 0, 11, nil)...)...),
		frame(wire.OpAddTags, 0, 12, (&wire.ReqAddTags{Stream: "f", Value: map[string]string{"a": "b"}}).AppendTo(nil)),
		frame(wire.OpListTags, 0, 13, wire.AppendStr(nil, "f")),
		frame(wire.OpCreateStream, 0, 14, (&wire.ReqCreateStream{In: api.CreateStreamInput{Name: "g", ShardCount: 1}}).AppendTo(nil)),
		frame(0x55, 0, 15, []byte{1, 2, 3}),
		frame(wire.OpStartStreamEncryption, 0, 16, (&wire.ReqStartStreamEncryption{Stream: "f", Key: kms.DefaultAlias}).AppendTo(nil)),
		append(frame(wire.OpStartStreamEncryption, 0, 17, (&wire.ReqStartStreamEncryption{Stream: "f", Key: kms.DefaultAlias}).AppendTo(nil)),
			append(frame(wire.OpPutRecord, 0, 18, put), frame(wire.OpRead, 0, 19, (&wire.ReqRead{Pos: pos}).AppendTo(nil))...)...),
		frame(wire.OpStopStreamEncryption, 0, 20, wire.AppendStr(nil, "f")),
		frame(wire.OpListKeys, 0, 21, nil),
		frame(wire.OpListAliases, 0, 22, nil),
		frame(wire.OpDescribeKey, 0, 23, wire.AppendStr(nil, kms.DefaultAlias)),
		frame(wire.OpEnableKey, 0, 24, wire.AppendStr(nil, kms.DefaultAlias)),
		frame(wire.OpCreateAlias, 0, 25, (&wire.ReqCreateAlias{Alias: "alias/f", Key: kms.DefaultAlias}).AppendTo(nil)),
		frame(wire.OpRewrap, 0, 26, wire.AppendStr(nil, "f")),
		frame(wire.OpShardMap, 0, 27, wire.AppendStr(nil, "f")),
		frame(wire.OpPutShard, 0, 28, (&wire.ReqPutShard{Stream: []byte("f"), Incarnation: 1, Shard: 0,
			Recs: []api.PutRecord{{Key: []byte("a"), Data: []byte("1")}, {Key: []byte("b"), Data: []byte("2")}}}).AppendTo(nil)),
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
			h := wire.Hello{Version: wire.Version, MaxFrame: 1 << 20}.Marshal()
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
	if len(out) < wire.HelloSize {
		t.Fatalf("the server sent %d bytes, less than a hello", len(out))
	}
	h, err := wire.ReadHello(bytes.NewReader(out[:wire.HelloSize]))
	if err != nil {
		t.Fatalf("server hello: %v", err)
	}
	out = out[wire.HelloSize:]
	if h.Status != wire.StatusOK && len(out) > 0 {
		t.Fatalf("the server sent %d bytes after refusing the hello", len(out))
	}
	acked := 0
	for len(out) > 0 {
		if len(out) < wire.HeaderSize {
			t.Fatalf("the server sent a partial header")
		}
		fh, err := wire.ParseHeader(out, 1<<20)
		if err != nil || fh.Size > len(out) {
			t.Fatalf("the server sent a bad frame header %+v: %v", fh, err)
		}
		body := out[wire.HeaderSize:fh.Size]
		out = out[fh.Size:]
		if fh.Flags&wire.FlagError != 0 || fh.Op == wire.OpGoAway {
			if _, err := wire.DecodeErrorBody(body); err != nil {
				t.Fatalf("the server sent a bad error body: %v", err)
			}
			continue
		}
		switch fh.Op {
		case wire.OpPutRecord:
			var m wire.RespSeq
			if err := wire.DecodeMessage(body, &m); err != nil {
				t.Fatalf("bad PutRecord response: %v", err)
			}
			acked++
		case wire.OpPutRecords, wire.OpPutShard:
			var m wire.RespPutRecords
			if err := wire.DecodeMessage(body, &m); err != nil {
				t.Fatalf("bad %v response: %v", fh.Op, err)
			}
			acked += len(m.Results) - m.Failed
		case wire.OpShardMap:
			var m wire.RespShardMap
			if err := wire.DecodeMessage(body, &m); err != nil {
				t.Fatalf("bad ShardMap response: %v", err)
			}
		case wire.OpRead, wire.OpEvent:
			var head wire.ResultHead
			frames, err := wire.DecodeResult(body, &head)
			if err != nil {
				t.Fatalf("bad %v result: %v", fh.Op, err)
			}
			rf := wire.NewResultFrames(frames, &head)
			for _, ok := rf.Next(); ok; _, ok = rf.Next() {
			}
			if err := rf.Err(); err != nil {
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
	head := wire.ResultHead{Next: api.Position{Stream: "f", Incarnation: 1, Seq: 1}, Records: 1}
	rec := make([]byte, record.FrameSize(1, 1))
	record.PutFrame(rec, 0, 1, 0, []byte("k"), []byte("v"))
	head.FramesLen = uint32(len(rec))
	result := append(head.AppendTo(nil), rec...)
	f.Add(frame(wire.OpPing, 0, 1, []byte("x")))
	f.Add(frame(wire.OpRead, 0, 2, result))
	f.Add(append(frame(wire.OpEvent, 0, 3, result), frame(wire.OpSubscribe, 0, 3, nil)...))
	f.Add(frame(wire.OpPutRecords, 0, 4, (&wire.RespPutRecords{Results: []api.PutResult{{}}}).AppendTo(nil)))
	f.Add(frame(wire.OpGoAway, 0, 0, wire.AppendErrorBody(nil, "InternalFailureException", "bye")))
	f.Add(frame(wire.OpRead, wire.FlagError, 2, wire.AppendErrorBody(nil, "ResourceNotFoundException", "no")))
	f.Add(frame(wire.OpPutRecords, wire.FlagError, 4, wire.AppendError(nil, wire.NotLeaderError("not the leader", 2, "127.0.0.1:1"))))
	f.Fuzz(func(t *testing.T, data []byte) {
		sh := wire.Hello{Version: wire.Version, MaxFrame: 1 << 20}.Marshal()
		gate := make(chan struct{})
		// The client's hello is the first write; the four requests follow.
		mc := &memConn{in: bytes.NewReader(append(sh[:], data...)), onN: 5, notify: make(chan struct{})}
		hs := &gatedConn{memConn: mc, gate: gate, free: wire.HelloSize}
		c, err := client.NewClient(context.Background(), hs, client.ClientOptions{MaxFrameSize: 1 << 20})
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
			sub, err := c.Subscribe(ctx, pos, client.SubscribeOptions{})
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
