package transport

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedb/sluice/internal/checksum"
)

// frameOf frames body with its length and CRC.
func frameOf(body []byte) []byte {
	f := make([]byte, frameHeaderSize, frameHeaderSize+len(body))
	binary.LittleEndian.PutUint32(f, uint32(len(body)))
	binary.LittleEndian.PutUint32(f[4:], checksum.Mask(checksum.Value(body)))
	return append(f, body...)
}

// envelopeBytes encodes one envelope of group carrying m.
func envelopeBytes(group uint64, m *raftpb.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	out := binary.AppendUvarint(nil, group)
	out = binary.AppendUvarint(out, uint64(len(b)))
	return append(out, b...)
}

// heartbeatEnvelope is an envelope of a heartbeat of group from node from
// to node to.
func heartbeatEnvelope(group, from, to, index uint64) []byte {
	var m raftpb.Message
	fill(&m, raftpb.MsgHeartbeat, from, to, index, nil)
	return envelopeBytes(group, &m)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestTransport_HostileBytes writes bytes that are not a valid stream to
// a node's listening port, each case on its own connection claiming to be
// node 3: the node closes that connection, says in its log what was
// wrong, delivers nothing from it (not even the good frames around a bad
// one), and goes on serving its real peer. A control case delivers, so
// that the harness is known to be able to.
func TestTransport_HostileBytes(t *testing.T) {
	nodes := startCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	good := func(i uint64) []byte { return frameOf(heartbeatEnvelope(4, 3, 2, i)) }
	badCRC := good(1)
	badCRC[4] ^= 0xff
	header := func(length, crc uint32) []byte {
		h := make([]byte, frameHeaderSize)
		binary.LittleEndian.PutUint32(h, length)
		binary.LittleEndian.PutUint32(h[4:], crc)
		return h
	}
	var toOther, fromOther raftpb.Message
	fill(&toOther, raftpb.MsgHeartbeat, 3, 9, 1, nil)
	fill(&fromOther, raftpb.MsgHeartbeat, 1, 2, 1, nil)

	cases := []struct {
		name      string
		hello     bool   // make the handshake first
		bytes     []byte // then write these
		halfClose bool   // and close the writing half
		log       string // the detail node 2 must log (at level ERROR unless level says)
		level     string
		deliver   int // messages node 2 must deliver from node 3
	}{
		{name: "control", hello: true, bytes: cat(good(1), good(2)), deliver: 2},
		{name: "garbage", bytes: []byte("GET / HTTP/1.1\r\nHost: sluice\r\nAccept: */*\r\n\r\n"), log: `does not speak sluice's raft transport`, level: "WARN"},
		{name: "huge length", hello: true, bytes: header(0xfffffff0, 0), log: "exceeds the limit of 68157440 bytes"},
		{name: "empty frame", hello: true, bytes: header(0, 0), log: "the frame is empty"},
		{name: "truncated header", hello: true, bytes: good(1)[:5], halfClose: true, log: "the stream ended 5 bytes into a frame's 8-byte header", level: "WARN"},
		{name: "truncated body", hello: true, bytes: good(1)[:20], halfClose: true, log: "the stream ended after 12 of its", level: "WARN"},
		{name: "bad crc", hello: true, bytes: cat(good(0), badCRC, good(2)), log: "CRC-32C is", deliver: 1},
		{name: "group 0", hello: true, bytes: frameOf(heartbeatEnvelope(0, 3, 2, 1)), log: "envelope 0 names group 0"},
		{name: "envelope past the end", hello: true, bytes: frameOf(cat(heartbeatEnvelope(4, 3, 2, 1), []byte{4, 100, 1, 1})),
			log: "envelope 1 (group 4) declares a message of 100 bytes; only 2 bytes of the frame remain"},
		{name: "bad varint", hello: true, bytes: frameOf([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), log: "the group id is not a valid uvarint"},
		{name: "not a message", hello: true, bytes: frameOf([]byte{4, 3, 0xff, 0xff, 0xff}), log: "the message does not decode"},
		{name: "wrong recipient", hello: true, bytes: frameOf(envelopeBytes(4, &toOther)), log: "addressed to node 9 arrived at node 2"},
		{name: "wrong sender", hello: true, bytes: frameOf(envelopeBytes(4, &fromOther)), log: "from node 1 arrived on node 3's connection"},
		{name: "bad frame after a good one in one frame", hello: true, bytes: frameOf(cat(heartbeatEnvelope(4, 3, 2, 1), heartbeatEnvelope(0, 3, 2, 2))), log: "envelope 1 names group 0"},
	}
	delivered := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st0 := b.tr.Stats()
			c, err := net.Dial("tcp", b.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitTimeout))
			if tc.hello {
				h := hello{Version: version, Cluster: testCluster, From: 3, To: 2}.marshal()
				if _, err := c.Write(h[:]); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, h[:]); err != nil {
					t.Fatal(err)
				}
				if a, err := parseHello(h[:]); err != nil || a.Status != statusOK {
					t.Fatalf("answer %+v, %v; want status 0", a, err)
				}
			}
			if _, err := c.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			if tc.halfClose {
				c.(*net.TCPConn).CloseWrite()
			}
			if tc.deliver > 0 {
				delivered += tc.deliver
				b.rec.waitFor(t, "the good frames", func() bool { return b.rec.count(3) >= delivered })
			}
			if tc.log == "" {
				return
			}
			// Node 2 closes the connection: the read ends without data.
			var one [1]byte
			if n, err := c.Read(one[:]); n != 0 || !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("read %d bytes, %v; want the connection closed by node 2", n, err)
			}
			level := "ERROR"
			if tc.level != "" {
				level = tc.level
			}
			b.log.waitFor(t, "level="+level, "remote="+c.LocalAddr().String(), tc.log)
			if tc.hello {
				st := b.tr.Stats()
				if tc.halfClose && st.Truncated != st0.Truncated+1 || !tc.halfClose && st.BadFrames != st0.BadFrames+1 {
					t.Fatalf("stats went from %+v to %+v; want one more bad frame, or one more truncated if the stream ended inside a frame", st0, st)
				}
			}
			if got := b.rec.count(3); got != delivered {
				t.Fatalf("node 2 delivered %d messages from node 3; want %d", got, delivered)
			}
		})
	}
	// The real peer was never disturbed.
	sendUntilReceived(t, a, b, 0)
	sendUntilReceived(t, b, a, 0)
	if st := b.tr.Stats(); st.Refused != 1 {
		t.Fatalf("Refused %d; want 1 (the garbage)", st.Refused)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// TestTransport_DeclaredLengthDoesNotAllocate declares a frame just under
// the limit and sends a kilobyte of it: the reader's memory follows what
// arrived, not what was declared.
func TestTransport_DeclaredLengthDoesNotAllocate(t *testing.T) {
	nodes := startCluster(t, 2, nil)
	b := nodes[1]
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc

	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitTimeout))
	h := hello{Version: version, Cluster: testCluster, From: 3, To: 2}.marshal()
	c.Write(h[:])
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatal(err)
	}
	const declared = DefaultMaxFrameSize - frameHeaderSize
	hdr := make([]byte, frameHeaderSize+1024)
	binary.LittleEndian.PutUint32(hdr, declared)
	c.Write(hdr)
	c.(*net.TCPConn).CloseWrite()
	var one [1]byte
	if n, _ := c.Read(one[:]); n != 0 {
		t.Fatal("node 2 wrote to the connection")
	}
	b.log.waitFor(t, "level=WARN", "the stream ended after 1024 of its")

	runtime.ReadMemStats(&ms)
	if grew := ms.TotalAlloc - before; grew > declared/8 {
		t.Fatalf("the process allocated %d bytes for a frame that declared %d and sent 1024", grew, declared)
	}
}

// rawPeer opens a connection to addr as node from of the test cluster
// and makes the handshake.
func rawPeer(t *testing.T, addr string, from, to uint64) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitTimeout))
	h := hello{Version: version, Cluster: testCluster, From: from, To: to}.marshal()
	if _, err := c.Write(h[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatal(err)
	}
	if a, err := parseHello(h[:]); err != nil || a.Status != statusOK {
		t.Fatalf("answer %+v, %v; want status 0", a, err)
	}
	return c
}

// TestTransport_NewConnectionReplacesOld has node 3 connect again while
// its first connection is open: the first is closed, and what arrives on
// the second is delivered after what arrived on the first.
func TestTransport_NewConnectionReplacesOld(t *testing.T) {
	b := startCluster(t, 2, nil)[1]
	first := rawPeer(t, b.addr, 3, 2)
	if _, err := first.Write(cat(frameOf(heartbeatEnvelope(4, 3, 2, 0)), frameOf(heartbeatEnvelope(4, 3, 2, 1)))); err != nil {
		t.Fatal(err)
	}
	second := rawPeer(t, b.addr, 3, 2)
	if _, err := second.Write(frameOf(heartbeatEnvelope(4, 3, 2, 2))); err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	if n, err := first.Read(one[:]); n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v from the first connection; want it closed", n, err)
	}
	b.rec.waitFor(t, "the frame on the second connection", func() bool {
		got := b.rec.msgs(3)
		return len(got) > 0 && got[len(got)-1].Msg.GetIndex() == 2
	})
	got := b.rec.msgs(3)
	for i := 1; i < len(got); i++ {
		if got[i].Msg.GetIndex() <= got[i-1].Msg.GetIndex() {
			t.Fatalf("indexes arrived out of order: %d after %d", got[i].Msg.GetIndex(), got[i-1].Msg.GetIndex())
		}
	}
	b.log.waitFor(t, "peer connected again; closing its previous connection", "peer=3")
}
