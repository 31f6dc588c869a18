package transport

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedb/sluice/cluster"
)

// countingReceiver counts what arrives and wakes a waiting sender.
type countingReceiver struct {
	n    atomic.Int64
	wake chan struct{} // cap 1
}

func (r *countingReceiver) Receive(_ uint64, batch []cluster.Envelope) {
	r.n.Add(int64(len(batch)))
	select {
	case r.wake <- struct{}{}:
	default:
	}
}
func (r *countingReceiver) Unreachable(uint64)                  {}
func (r *countingReceiver) SnapshotStatus(uint64, uint64, bool) {}

// BenchmarkTransport sends b.N envelopes from one transport to another
// on loopback, batch envelopes a Send (a Raft host's Ready over many
// groups), with at most window envelopes in flight (Raft's inflight
// limit; without one a sender outruns the queue and drops). It reports
// envelopes/s; MB/s counts the envelopes' encoded bytes.
func BenchmarkTransport(b *testing.B) {
	for _, tc := range []struct {
		name          string
		data          int // bytes of entry data; 0: a heartbeat
		batch, window int
	}{
		{"msg=heartbeat/batch=1", 0, 1, 4096},
		{"msg=heartbeat/batch=64", 0, 64, 8192},
		{"msg=append-64KiB/batch=1", 64 << 10, 1, 256},
	} {
		b.Run(tc.name, func(b *testing.B) {
			recv := &countingReceiver{wake: make(chan struct{}, 1)}
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			lnA, lnB := listen(b), listen(b)
			peers := map[uint64]string{1: lnA.Addr().String(), 2: lnB.Addr().String()}
			ta, err := New(Config{NodeID: 1, Listener: lnA, Peers: peers, Receiver: &countingReceiver{wake: make(chan struct{}, 1)}, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			tb, err := New(Config{NodeID: 2, Listener: lnB, Peers: peers, Receiver: recv, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			ta.Start()
			tb.Start()
			defer ta.Close()
			defer tb.Close()

			var data []byte
			typ := raftpb.MsgHeartbeat
			if tc.data > 0 {
				data, typ = payload(1, 1, 1, tc.data), raftpb.MsgApp
			}
			batch := make([]cluster.Envelope, tc.batch)
			for i := range batch {
				batch[i].Group = uint64(1 + i)
				fill(&batch[i].Msg, typ, 1, 2, 1000, data)
			}
			b.SetBytes(int64(envelopeSize(1, proto.Size(&batch[0].Msg))))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			sent := 0
			for sent < b.N {
				for int64(sent)-recv.n.Load() > int64(tc.window) {
					<-recv.wake
				}
				k := min(tc.batch, b.N-sent)
				ta.Send(batch[:k])
				sent += k
			}
			for recv.n.Load() < int64(b.N) {
				<-recv.wake
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if ps, _ := ta.Stats().Peer(2); ps.Dropped != 0 {
				b.Fatalf("%d envelopes dropped", ps.Dropped)
			} else {
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "envelopes/s")
				b.ReportMetric(float64(ps.MessagesSent)/float64(max(ps.FramesSent, 1)), "envelopes/frame")
			}
		})
	}
}

// BenchmarkLoopbackTCP is the same machine's ceiling: 64 KiB writes on a
// plain loopback TCP connection drained by a reader, no framing, no
// encoding.
func BenchmarkLoopbackTCP(b *testing.B) {
	for _, size := range []int{64 << 10} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			ln := listen(b)
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.Copy(io.Discard, c)
				c.Close()
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			<-done
			ln.Close()
		})
	}
}
