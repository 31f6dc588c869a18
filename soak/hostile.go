package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/wire"
)

// target is what the hostile clients know of the server under test.
type target struct {
	wireAddr, httpAddr string
	stream             string
	shards             int
	consumerARNs       []string       // registered consumers, for SubscribeToShard
	positions          []api.Position // each shard's start, for binary Read and Subscribe
	timeouts           Timeouts
}

// Timeouts are the server's timeouts the soak sets; the hostile clients
// expect to be cut off by them.
type Timeouts struct {
	Header, Body, Frame, Write time.Duration
}

// closeSlack is how much later than its timeout the server may close a
// stalled connection on a loaded machine before the soak counts it as a
// failure.
const closeSlack = 10 * time.Second

// floodSize is how many connections one flood opens at once.
const floodSize = 64

// attack is one hostile client: it opens connections, misbehaves on them
// and closes them. It returns how many connections it made, and an error
// only when the server did something it must not (such as keeping a
// stalled connection open past its timeout).
type attack struct {
	name string
	run  func(ctx context.Context, t *target, rng *rand.Rand) (conns int, err error)
}

// attacks are the hostile clients the workers pick from.
var attacks = []attack{
	{"http-declared-body", httpDeclaredBody},
	{"http-stalled-headers", httpStalledHeaders},
	{"http-garbage", httpGarbage},
	{"http-slow-getrecords", httpSlowGetRecords},
	{"http-slow-subscribe", httpSlowSubscribe},
	{"wire-declared-frame", wireDeclaredFrame},
	{"wire-garbage-hello", wireGarbageHello},
	{"wire-garbage-frames", wireGarbageFrames},
	{"wire-slow-subscribe", wireSlowSubscribe},
	{"wire-slow-reads", wireSlowReads},
	{"flood", flood},
}

// mustClose waits for the server to close nc within limit plus
// closeSlack, and closes it.
func mustClose(nc net.Conn, what string, limit time.Duration) error {
	defer nc.Close()
	if _, err := AwaitClose(nc, limit+closeSlack); err != nil {
		return fmt.Errorf("%s: %w (its timeout is %v)", what, err, limit)
	}
	return nil
}

// holdUnread keeps nc open without reading from it for d, or until ctx
// ends, and closes it: a client that has stopped reading.
func holdUnread(ctx context.Context, nc net.Conn, d time.Duration) {
	defer nc.Close()
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// httpDeclaredBody declares a PutRecords body of up to 16 MB and sends a
// few bytes of it.
func httpDeclaredBody(_ context.Context, t *target, rng *rand.Rand) (int, error) {
	// At least 1 KB, more than is sent, so that the body stays incomplete.
	declared := int64(1000 + rng.IntN(16_000_000))
	nc, err := StallHTTPBody(t.httpAddr, "PutRecords", declared, []byte(`{"StreamName":"` + t.stream + `","Records":[`)[:1+rng.IntN(10)])
	if err != nil {
		return 0, nil // refused or held in the backlog: nothing to check
	}
	return 1, mustClose(nc, fmt.Sprintf("a PutRecords body declaring %d bytes stalled after its headers", declared), t.timeouts.Body)
}

// httpStalledHeaders sends part of a request's headers and stops.
func httpStalledHeaders(_ context.Context, t *target, rng *rand.Rand) (int, error) {
	nc, err := net.DialTimeout("tcp", t.httpAddr, dialTimeout)
	if err != nil {
		return 0, nil
	}
	head := APIHead("PutRecords", 100)
	if _, err := nc.Write(head[:rng.IntN(len(head)-4)]); err != nil {
		nc.Close()
		return 1, nil
	}
	return 1, mustClose(nc, "request headers stalled part way", t.timeouts.Header)
}

// httpGarbage sends random bytes, with line ends, to the HTTP port.
func httpGarbage(_ context.Context, t *target, rng *rand.Rand) (int, error) {
	nc, err := net.DialTimeout("tcp", t.httpAddr, dialTimeout)
	if err != nil {
		return 0, nil
	}
	b := randomBytes(rng, 1+rng.IntN(8<<10))
	for i := rng.IntN(64); i < len(b)-1; i += 1 + rng.IntN(128) {
		b[i], b[i+1] = '\r', '\n'
	}
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return 1, nil // the server answered and closed before all of it was sent
	}
	return 1, mustClose(nc, fmt.Sprintf("%d bytes of garbage on the HTTP port", len(b)), t.timeouts.Header)
}

// httpSlowGetRecords asks for up to 10,000 records with GetRecords and
// never reads the answer.
func httpSlowGetRecords(ctx context.Context, t *target, rng *rand.Rand) (int, error) {
	shard := api.ShardID(rng.IntN(t.shards))
	var it struct{ ShardIterator string }
	in := map[string]string{"StreamName": t.stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}
	if err := apiCall(ctx, apiClient, t.httpAddr, "GetShardIterator", in, &it); err != nil {
		return 0, nil // the normal path is checked by the producers
	}
	body, _ := json.Marshal(map[string]any{"ShardIterator": it.ShardIterator, "Limit": 10000})
	nc, err := StallHTTPBody(t.httpAddr, "GetRecords", int64(len(body)), body)
	if err != nil {
		return 0, nil
	}
	holdUnread(ctx, nc, t.timeouts.Write+time.Second)
	return 1, nil
}

// httpSlowSubscribe starts a SubscribeToShard from the shard's start and
// never reads the events.
func httpSlowSubscribe(ctx context.Context, t *target, rng *rand.Rand) (int, error) {
	body, _ := json.Marshal(map[string]any{
		"ConsumerARN":      t.consumerARNs[rng.IntN(len(t.consumerARNs))],
		"ShardId":          api.ShardID(rng.IntN(t.shards)),
		"StartingPosition": map[string]string{"Type": "TRIM_HORIZON"},
	})
	nc, err := StallHTTPBody(t.httpAddr, "SubscribeToShard", int64(len(body)), body)
	if err != nil {
		return 0, nil
	}
	holdUnread(ctx, nc, t.timeouts.Write+time.Second)
	return 1, nil
}

// wireDeclaredFrame sends a frame header declaring up to 16 MiB and none
// of its body.
func wireDeclaredFrame(_ context.Context, t *target, rng *rand.Rand) (int, error) {
	ops := []wire.Op{wire.OpPutRecords, wire.OpPutRecord, wire.OpRead, wire.OpCreateStream}
	op := ops[rng.IntN(len(ops))]
	size := wire.HeaderSize + 1 + rng.IntN(wire.DefaultMaxFrameSize-wire.HeaderSize)
	nc, err := StallFrame(t.wireAddr, op, size)
	if err != nil {
		return 0, nil
	}
	return 1, mustClose(nc, fmt.Sprintf("a %v frame declaring %d bytes stalled after its header", op, size), t.timeouts.Frame)
}

// wireGarbageHello sends 16 random bytes where the hello belongs.
func wireGarbageHello(_ context.Context, t *target, rng *rand.Rand) (int, error) {
	nc, err := net.DialTimeout("tcp", t.wireAddr, dialTimeout)
	if err != nil {
		return 0, nil
	}
	if _, err := nc.Write(randomBytes(rng, wire.HelloSize)); err != nil {
		nc.Close()
		return 1, nil
	}
	return 1, mustClose(nc, "a garbage hello", 0)
}

// wireGarbageFrames handshakes and sends random bytes as frames. The
// server may read them as frames that wait for more bytes, answer them
// with errors, or close with a GoAway; the client gives up after the
// frame timeout.
func wireGarbageFrames(_ context.Context, t *target, rng *rand.Rand) (int, error) {
	nc, err := Handshake(t.wireAddr)
	if err != nil {
		return 0, nil
	}
	defer nc.Close()
	nc.SetWriteDeadline(time.Now().Add(t.timeouts.Frame + closeSlack))
	if _, err := nc.Write(randomBytes(rng, 1+rng.IntN(8<<10))); err != nil {
		return 1, nil
	}
	AwaitClose(nc, t.timeouts.Frame)
	return 1, nil
}

// wireRequest appends a request frame with id to b.
func wireRequest(b []byte, op wire.Op, id uint64, m wire.Message) []byte {
	b, start := wire.BeginFrame(b)
	b = m.AppendTo(b)
	wire.EndFrame(b, start, op, 0, id, 0)
	return b
}

// wireSlowSubscribe subscribes from a shard's start with a 64 MiB credit
// and never reads the events.
func wireSlowSubscribe(ctx context.Context, t *target, rng *rand.Rand) (int, error) {
	nc, err := Handshake(t.wireAddr)
	if err != nil {
		return 0, nil
	}
	req := wireRequest(nil, wire.OpSubscribe, 1, &wire.ReqSubscribe{Pos: t.positions[rng.IntN(len(t.positions))], Credit: 64 << 20})
	return sendAndHoldUnread(ctx, t, nc, req)
}

// wireSlowReads pipelines eight 10 MiB Reads from a shard's start and
// never reads the results.
func wireSlowReads(ctx context.Context, t *target, rng *rand.Rand) (int, error) {
	nc, err := Handshake(t.wireAddr)
	if err != nil {
		return 0, nil
	}
	var req []byte
	for id := range uint64(8) {
		req = wireRequest(req, wire.OpRead, id+1, &wire.ReqRead{Pos: t.positions[rng.IntN(len(t.positions))], MaxBytes: 10 << 20})
	}
	return sendAndHoldUnread(ctx, t, nc, req)
}

// sendAndHoldUnread writes req on nc and then holds the connection open
// without reading past the server's write timeout: one hostile connection.
func sendAndHoldUnread(ctx context.Context, t *target, nc net.Conn, req []byte) (int, error) {
	nc.SetWriteDeadline(time.Now().Add(dialTimeout))
	if _, err := nc.Write(req); err != nil {
		nc.Close()
		return 1, nil
	}
	holdUnread(ctx, nc, t.timeouts.Write+time.Second)
	return 1, nil
}

// flood opens floodSize connections to both ports as fast as it can, some
// with a hello and some silent, and then drops them all.
func flood(_ context.Context, t *target, rng *rand.Rand) (int, error) {
	var ncs []net.Conn
	defer func() {
		for _, nc := range ncs {
			nc.Close()
		}
	}()
	hello := wire.Hello{Version: wire.Version, MaxFrame: wire.DefaultMaxFrameSize}.Marshal()
	for range floodSize {
		addr := t.wireAddr
		if rng.IntN(2) == 0 {
			addr = t.httpAddr
		}
		nc, err := net.DialTimeout("tcp", addr, dialTimeout)
		if err != nil {
			continue
		}
		ncs = append(ncs, nc)
		if addr == t.wireAddr && rng.IntN(2) == 0 {
			nc.SetWriteDeadline(time.Now().Add(dialTimeout))
			nc.Write(hello[:])
		}
	}
	return len(ncs), nil
}

// apiClient makes the hostile clients' few well-formed API calls.
var apiClient = &http.Client{Timeout: 30 * time.Second}

// hostileStats counts what the hostile clients did.
type hostileStats struct {
	mu       sync.Mutex // guards the fields below
	conns    map[string]int
	failures []string // the first maxFailures things the server did wrong
	failed   int
}

const maxFailures = 20

func (s *hostileStats) record(name string, conns int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[name] += conns
	if err != nil {
		s.failed++
		if len(s.failures) < maxFailures {
			s.failures = append(s.failures, name+": "+err.Error())
		}
	}
}

// hostileWorker mounts the attacks in turn, starting with attack first,
// until ctx ends or it has mounted max of them. Workers that start at
// different attacks run every kind at once from the start.
func hostileWorker(ctx context.Context, t *target, first int, max int, stats *hostileStats) {
	rng := rand.New(rand.NewPCG(uint64(first), 0x50a6))
	for i := 0; i < max && ctx.Err() == nil; i++ {
		a := attacks[(first+i)%len(attacks)]
		conns, err := a.run(ctx, t, rng)
		stats.record(a.name, conns, err)
	}
}
