package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/internal/testcert"
)

// echoStreams serves stream connections by echoing what arrives, and
// reports each dialer on seen.
func echoStreams(seen chan<- uint64) func(uint64, net.Conn) {
	return func(from uint64, c net.Conn) {
		seen <- from
		io.Copy(c, c)
	}
}

// A stream connection, over mutual TLS, carries bytes both ways beside the
// Raft connection, which goes on delivering; Close ends a stream being
// served.
func TestStream_BothWaysBesideRaft(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-cluster")
	ln1, ln2 := listen(t), listen(t)
	peers := map[uint64]string{1: ln1.Addr().String(), 2: ln2.Addr().String()}
	seen := make(chan uint64, 1)
	n1 := startNode(t, 1, ln1, peers, func(c *Config) { c.TLS = nodeTLS(ca, "node1") })
	n2 := startNode(t, 2, ln2, peers, func(c *Config) { c.TLS = nodeTLS(ca, "node2"); c.Streams = echoStreams(seen) })

	conn, err := n1.tr.DialStream(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if from := <-seen; from != 1 {
		t.Fatalf("the stream's handler was told node %d dialed; want 1", from)
	}
	data := payload(1, 2, 3, 256<<10)
	go conn.Write(data)
	back := make([]byte, len(data))
	if _, err := io.ReadFull(conn, back); err != nil || !bytes.Equal(back, data) {
		t.Fatalf("the stream echoed %v; want the %d bytes sent", err, len(data))
	}
	n1.tr.Send(env(2, raftpb.MsgHeartbeat, 1, 2, 3, nil))
	n2.rec.waitFor(t, "a heartbeat while a stream is open", func() bool { return n2.rec.count(1) == 1 })
	if s := n2.tr.Stats().Streams; s != 1 {
		t.Fatalf("node 2 counts %d stream connections; want 1", s)
	}
	// Close of the serving node ends the stream: the dialer reads EOF or
	// an error, never hangs.
	n2.tr.Close()
	if _, err := conn.Read(back); err == nil {
		t.Fatal("a stream read after the serving node closed succeeded")
	}
}

// A node that serves no streams refuses a stream hello with a status that
// says so; a blocked node is refused before dialing; a node without an
// address is an error.
func TestStream_Refusals(t *testing.T) {
	ln1, ln2 := listen(t), listen(t)
	peers := map[uint64]string{1: ln1.Addr().String(), 2: ln2.Addr().String()}
	n1 := startNode(t, 1, ln1, peers, nil)
	startNode(t, 2, ln2, peers, nil)
	if _, err := n1.tr.DialStream(context.Background(), 2); !errors.Is(err, ErrNoStreams) {
		t.Fatalf("stream to a node serving none: %v; want ErrNoStreams", err)
	}
	if _, err := n1.tr.DialStream(context.Background(), 9); err == nil {
		t.Fatal("stream to a node with no address succeeded")
	}
	n1.tr.Block(2, true)
	if _, err := n1.tr.DialStream(context.Background(), 2); err == nil {
		t.Fatal("stream to a blocked node succeeded")
	}
}
