package wireserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/wire"
)

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rawConn speaks the protocol by hand, for sending what a client should not.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (env *testEnv) raw(t *testing.T) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	hb := wire.Hello{Version: wire.Version, MaxFrame: wire.DefaultMaxFrameSize}.Marshal()
	r.write(hb[:])
	h, err := wire.ReadHello(r.br)
	if err != nil || h.Status != wire.StatusOK {
		t.Fatalf("handshake: %+v, %v", h, err)
	}
	return r
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// frame builds a frame.
func frame(op wire.Op, flags uint8, id uint64, body []byte) []byte {
	b, start := wire.BeginFrame(nil)
	b = append(b, body...)
	wire.PutHeader(b[start:], wire.Header{Size: len(b), Op: op, Flags: flags, ID: id})
	return b
}

// read reads one frame; ok is false at the end of the connection.
func (r *rawConn) read() (wire.Header, []byte, bool) {
	r.t.Helper()
	var hb [wire.HeaderSize]byte
	if _, err := io.ReadFull(r.br, hb[:]); err != nil {
		return wire.Header{}, nil, false
	}
	h, err := wire.ParseHeader(hb[:], 1<<30)
	if err != nil {
		r.t.Fatalf("the server sent a bad header: %v", err)
	}
	body := make([]byte, h.Size-wire.HeaderSize)
	if _, err := io.ReadFull(r.br, body); err != nil {
		r.t.Fatalf("read body: %v", err)
	}
	return h, body, true
}

// expectError reads a frame and checks it is an error response to id.
func (r *rawConn) expectError(op wire.Op, id uint64, name, contains string) {
	r.t.Helper()
	h, body, ok := r.read()
	if !ok {
		r.t.Fatalf("the connection closed; want an error response to request %d", id)
	}
	if h.Op != op || h.ID != id || h.Flags&wire.FlagError == 0 {
		r.t.Fatalf("got %+v; want an error response %v to request %d", h, op, id)
	}
	e, err := wire.DecodeErrorBody(body)
	if err != nil || e.Name != name || !strings.Contains(e.Message, contains) {
		r.t.Fatalf("error %v (%v); want %s containing %q", e, err, name, contains)
	}
}

// expectGoAwayAndClose reads a GoAway and then the end of the connection.
func (r *rawConn) expectGoAwayAndClose(contains string) {
	r.t.Helper()
	h, body, ok := r.read()
	if !ok || h.Op != wire.OpGoAway || h.ID != 0 {
		r.t.Fatalf("got %+v (ok %v); want a GoAway", h, ok)
	}
	var m wire.GoAway
	if err := wire.DecodeMessage(body, &m); err != nil || !strings.Contains(m.Message, contains) {
		r.t.Fatalf("GoAway %+v (%v); want a message containing %q", m, err, contains)
	}
	if h, _, ok := r.read(); ok {
		r.t.Fatalf("the server sent %+v after GoAway; want the connection closed", h)
	}
}

// expectPing checks that the connection still serves requests.
func (r *rawConn) expectPing(id uint64) {
	r.t.Helper()
	r.write(frame(wire.OpPing, 0, id, []byte("still here")))
	h, body, ok := r.read()
	if !ok || h.Op != wire.OpPing || h.ID != id || string(body) != "still here" {
		r.t.Fatalf("ping: %+v %q (ok %v); want the echo", h, body, ok)
	}
}

func putRecordBody(stream, key, data string) []byte {
	return (&wire.ReqPutRecord{Stream: []byte(stream), Rec: api.PutRecord{Key: []byte(key), Data: []byte(data)}}).AppendTo(nil)
}

func TestServer_MalformedFrames(t *testing.T) {
	logs := &logBuffer{}
	env := newServerEnv(t, func(so *ServerOptions) {
		so.Logger = slog.New(slog.NewTextHandler(logs, nil))
		so.MaxFrameSize = 1 << 20
	})
	c := env.dial(client.ClientOptions{})
	env.createStream(c, "s", 1)

	// Each case answers with an error and keeps the connection.
	t.Run("keeps the connection", func(t *testing.T) {
		r := env.raw(t)
		// Flags 0, then a key length of 200 and no key.
		truncatedKey := append(wire.AppendStr(wire.AppendStr(nil, "s"), ""), 0, 200, 0)
		cases := []struct {
			name     string
			frame    []byte
			op       wire.Op
			errName  string
			contains string
		}{
			{"unknown opcode", frame(0x77, 0, 1, []byte("abc")), 0x77, "InvalidArgumentException", "not an operation"},
			{"server-only opcode", frame(wire.OpEvent, 0, 2, nil), wire.OpEvent, "InvalidArgumentException", "servers only"},
			{"flags set", frame(wire.OpPing, 0x80, 3, nil), wire.OpPing, "InvalidArgumentException", "flags"},
			{"truncated body", frame(wire.OpPutRecord, 0, 4, truncatedKey), wire.OpPutRecord, "InvalidArgumentException", "partition key"},
			{"trailing bytes", frame(wire.OpPutRecord, 0, 5, append(putRecordBody("s", "k", "v"), 1)), wire.OpPutRecord, "InvalidArgumentException", "unexpected bytes"},
			{"bad record flags", frame(wire.OpPutRecords, 0, 6, append(wire.AppendU16(wire.AppendStr(nil, "s"), 1), 0x40, 1, 0, 'k', 0, 0, 0, 0)), wire.OpPutRecords, "InvalidArgumentException", "record flags"},
			{"bad utf-8 name", frame(wire.OpDescribeStream, 0, 7, []byte{2, 0, 0xff, 0xfe}), wire.OpDescribeStream, "InvalidArgumentException", "UTF-8"},
			{"too many records", frame(wire.OpPutRecords, 0, 8, wire.AppendU16(wire.AppendStr(nil, "s"), 60000)), wire.OpPutRecords, "InvalidArgumentException", "record count"},
			{"malformed credit", frame(wire.OpCredit, 0, 9, []byte{1}), wire.OpCredit, "InvalidArgumentException", "credit"},
			{"invalid iterator type", frame(wire.OpGetIterator, 0, 10, wire.AppendTime(wire.AppendSeqNum(wire.AppendU8(wire.AppendU32(wire.AppendStr(nil, "s"), 0), 0), api.SeqNum{}), time.Time{})), wire.OpGetIterator, "InvalidArgumentException", "iterator type"},
		}
		for i, tc := range cases {
			r.write(tc.frame)
			r.expectError(tc.op, uint64(i+1), tc.errName, tc.contains)
		}
		r.expectPing(100)
	})

	t.Run("oversize frame", func(t *testing.T) {
		r := env.raw(t)
		hb := make([]byte, wire.HeaderSize)
		wire.PutHeader(hb, wire.Header{Size: 2 << 20, Op: wire.OpPutRecord, ID: 42})
		r.write(hb)
		r.expectError(wire.OpPutRecord, 42, "InvalidArgumentException", "exceeds the limit")
		r.expectGoAwayAndClose("exceeds the limit")
	})

	t.Run("length below the header", func(t *testing.T) {
		r := env.raw(t)
		r.write([]byte{5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
		r.expectGoAwayAndClose("below")
	})

	t.Run("request id 0", func(t *testing.T) {
		r := env.raw(t)
		r.write(frame(wire.OpPing, 0, 0, nil))
		r.expectGoAwayAndClose("request id 0")
	})

	t.Run("reserved bytes", func(t *testing.T) {
		r := env.raw(t)
		f := frame(wire.OpPing, 0, 1, nil)
		f[7] = 9
		r.write(f)
		r.expectGoAwayAndClose("reserved")
	})

	t.Run("truncated frame", func(t *testing.T) {
		r := env.raw(t)
		f := frame(wire.OpPutRecord, 0, 1, putRecordBody("s", "k", "never stored"))
		r.write(f[:len(f)-3])
		r.nc.(*net.TCPConn).CloseWrite()
		if h, _, ok := r.read(); ok {
			t.Fatalf("the server answered a truncated frame with %+v", h)
		}
	})

	t.Run("bad magic", func(t *testing.T) {
		nc, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		nc.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		if n, err := nc.Read(make([]byte, 64)); err == nil {
			t.Fatalf("the server answered %d bytes to an HTTP request; want the connection closed", n)
		}
	})

	// Nothing malformed reached the stream.
	if n := recordCount(t, c, "s"); n != 0 {
		t.Fatalf("the stream holds %d records after only malformed puts; want 0", n)
	}
	out := logs.String()
	for _, want := range []string{"unknown operation", "malformed request", "request with flags set", "bad frame",
		"protocol violation", "middle of a frame", "handshake failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log has no line about %q:\n%s", want, out)
		}
	}
}

func TestServer_PipeliningOutOfOrder(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan wire.Op, 1)
	env := newTestEnvHooks(t, nil, func(s *Server) {
		s.testHookControl = func(op wire.Op) {
			if op == wire.OpCreateStream {
				entered <- op
				<-release
			}
		}
	})
	r := env.raw(t)
	create := (&wire.ReqCreateStream{In: api.CreateStreamInput{Name: "slow", ShardCount: 1}}).AppendTo(nil)
	r.write(frame(wire.OpCreateStream, 0, 1, create))
	<-entered
	// The create is held; later requests on the same connection complete
	// first.
	r.write(append(frame(wire.OpPing, 0, 2, []byte("a")), frame(wire.OpListStreams, 0, 3, nil)...))
	for _, id := range []uint64{2, 3} {
		h, _, ok := r.read()
		if !ok || h.ID != id || h.Flags != 0 {
			t.Fatalf("got %+v; want the response to request %d before the held create", h, id)
		}
	}
	close(release)
	h, body, ok := r.read()
	if !ok || h.ID != 1 || h.Op != wire.OpCreateStream || h.Flags != 0 {
		t.Fatalf("got %+v; want the create's response", h)
	}
	var info wire.RespStreamInfo
	if err := wire.DecodeMessage(body, &info); err != nil || info.Info.Name != "slow" {
		t.Fatalf("create response %+v, %v", info.Info, err)
	}
}

func TestClient_ConcurrentPipelinedCalls(t *testing.T) {
	_, c := newStreamEnv(t, 3)
	const workers, each = 16, 100
	type put struct {
		seq  api.SeqNum
		data string
	}
	results := make(chan put, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				data := strings.Repeat("x", i%7) + "/" + string(rune('a'+w)) + "/" + strings.Repeat("y", i)
				seq, err := c.PutRecord(testCtx(t), "s", api.PutRecord{Key: []byte(data), Data: []byte(data)})
				if err != nil {
					t.Errorf("PutRecord: %v", err)
					return
				}
				results <- put{seq, data}
			}
		}()
	}
	wg.Wait()
	close(results)
	// Each caller got the sequence number of its own record.
	bySeq := map[api.SeqNum]string{}
	for p := range results {
		bySeq[p.seq] = p.data
	}
	if len(bySeq) != workers*each {
		t.Fatalf("%d distinct sequence numbers for %d puts", len(bySeq), workers*each)
	}
	found := 0
	for shard := range 3 {
		found += eachRecord(t, c, "s", shard, func(r client.Record) {
			if bySeq[r.Seq] != string(r.Data) {
				t.Fatalf("record %v holds %q; its put was acknowledged for %q", r.Seq, r.Data, bySeq[r.Seq])
			}
		})
	}
	if found != workers*each {
		t.Fatalf("read %d records; want %d", found, workers*each)
	}
}

func TestServer_GracefulShutdown(t *testing.T) {
	env, c := newStreamEnv(t, 1)
	sub := subscribeLatest(t, c)
	// Puts in flight while the server shuts down either complete (and are
	// stored) or fail with a lost connection.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acked []api.SeqNum
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seq, err := c.PutRecord(context.Background(), "s", api.PutRecord{Key: []byte("k"), Data: []byte("v")})
				if err != nil {
					if !errors.Is(err, wire.ErrConnectionLost) {
						t.Errorf("PutRecord during shutdown: %v; want success or ErrConnectionLost", err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, seq)
				mu.Unlock()
			}
		}()
	}
	// Let some puts through, then shut down.
	for range 20 {
		if _, err := sub.Next(testCtx(t)); err != nil {
			t.Fatalf("Next: %v", err)
		}
	}
	if err := env.srv.Shutdown(testCtx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	for {
		_, err := sub.Next(testCtx(t))
		if err == nil {
			continue
		}
		if !errors.Is(err, api.ErrInternal) || !strings.Contains(err.Error(), "shutting down") {
			t.Fatalf("the subscription ended with %v; want InternalFailureException saying the server is shutting down", err)
		}
		break
	}
	if _, err := client.Dial(testCtx(t), env.addr, client.ClientOptions{}); err == nil {
		t.Fatal("Dial after Shutdown succeeded")
	}
	// Later calls fail at once, saying why: the server's GoAway.
	_, err := c.ListStreams(testCtx(t))
	var goAway *wire.Error
	if !errors.Is(err, wire.ErrConnectionLost) || !errors.As(err, &goAway) || !strings.Contains(goAway.Message, "shutting down") {
		t.Fatalf("a call after the shutdown: %v; want ErrConnectionLost carrying the GoAway", err)
	}
	// Every acknowledged put is stored.
	pos := api.Position{Stream: "s", Incarnation: acked[0].Incarnation}
	var res engine.ReadResult
	stored := map[uint64]bool{}
	for {
		if err := env.eng.Read(pos, 0, 0, engine.ReadSubscription, &res); err != nil {
			t.Fatal(err)
		}
		it := res.Iter()
		n := 0
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			stored[r.Seq.Seq] = true
			n++
		}
		pos = res.Next
		res.Release()
		if n == 0 {
			break
		}
	}
	for _, s := range acked {
		if !stored[s.Seq] {
			t.Fatalf("acknowledged record %v is not stored", s)
		}
	}
}

func TestServer_ConnectionLimit(t *testing.T) {
	opened := make(chan int, 16)
	env := newServerEnv(t, func(so *ServerOptions) {
		so.MaxConns = 1
		so.OnConnections = func(n int) { opened <- n }
	})
	c := env.dial(client.ClientOptions{})
	if n := <-opened; n != 1 {
		t.Fatalf("the connections hook reported %d; want 1", n)
	}
	_, err := client.Dial(testCtx(t), env.addr, client.ClientOptions{})
	if !errors.Is(err, api.ErrLimitExceeded) {
		t.Fatalf("a second connection over a limit of 1: %v; want LimitExceededException", err)
	}
	c.Close()
	if n := <-opened; n != 0 {
		t.Fatalf("the connections hook reported %d after the close; want 0", n)
	}
	c2 := env.dial(client.ClientOptions{})
	if err := c2.Ping(testCtx(t), nil); err != nil {
		t.Fatalf("Ping on a connection after the first closed: %v", err)
	}
}

func TestServer_IdleTimeoutClosesIdleConnections(t *testing.T) {
	env := newServerEnv(t, func(so *ServerOptions) { so.IdleTimeout = 20 * time.Millisecond })
	r := env.raw(t)
	// Nothing sent: the server says why and closes.
	r.expectGoAwayAndClose("without requests")
}

func TestServer_InFlightBudgetAppliesBackpressure(t *testing.T) {
	// A budget of one request: the client's pipelined calls still all
	// complete, one at a time.
	env := newServerEnv(t, func(so *ServerOptions) { so.MaxInFlightRequests = 1; so.MaxInFlightBytes = 1 })
	c := env.dial(client.ClientOptions{})
	env.createStream(c, "s", 1)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.PutRecord(testCtx(t), "s", api.PutRecord{Key: []byte("k"), Data: []byte("v")}); err != nil {
				t.Errorf("PutRecord: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := recordCount(t, c, "s"); n != 50 {
		t.Fatalf("stored %d records; want 50", n)
	}
}

func TestClient_HandshakeRefusals(t *testing.T) {
	l := listenLoopback(t)
	answers := [][]byte{
		func() []byte {
			b := wire.Hello{Version: 2, Status: wire.StatusVersion, MaxFrame: 1 << 20}.Marshal()
			return b[:]
		}(),
		[]byte("HTTP/1.1 400 Bad Request\r\n"),
	}
	go func() {
		for _, a := range answers {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			io.ReadFull(nc, make([]byte, wire.HelloSize))
			nc.Write(a)
			nc.Close()
		}
	}()
	if _, err := client.Dial(testCtx(t), l.Addr().String(), client.ClientOptions{}); !errors.Is(err, wire.ErrVersion) {
		t.Fatalf("Dial to a server of another version: %v; want ErrVersion", err)
	}
	if _, err := client.Dial(testCtx(t), l.Addr().String(), client.ClientOptions{}); !errors.Is(err, wire.ErrHandshake) {
		t.Fatalf("Dial to something else: %v; want ErrHandshake", err)
	}
}

func TestServer_BusyConnectionOutlivesIdleTimeout(t *testing.T) {
	const idle = 20 * time.Millisecond
	env := newServerEnv(t, func(so *ServerOptions) { so.IdleTimeout = idle })
	c := env.dial(client.ClientOptions{})
	// Keep pipelined pings flowing for several idle timeouts: the server
	// must not mistake a connection whose frames are always buffered for an
	// idle one.
	var wg sync.WaitGroup
	stop := time.Now().Add(5 * idle)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if err := c.Ping(testCtx(t), []byte("busy")); err != nil {
					t.Errorf("Ping on a busy connection: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
