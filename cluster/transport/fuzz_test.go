package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/internal/checksum"
)

// fuzzMaxFrame is the frame limit of the fuzz targets: small, so that the
// limit is within reach of the fuzzer.
const fuzzMaxFrame = 64 << 10

// seedFrames are valid frames (from node 1 to node 2) for the seed
// corpora: heartbeats of several groups, an append, a snapshot.
func seedFrames() [][]byte {
	var b batch
	add := func(group uint64, typ raftpb.MessageType, index uint64, data []byte) {
		var m raftpb.Message
		fill(&m, typ, 1, 2, index, data)
		if err := b.add(group, &m, proto.Size(&m), fuzzMaxFrame); err != nil {
			panic(err)
		}
	}
	var out [][]byte
	take := func() {
		b.seal()
		out = append(out, bytes.Clone(b.buf))
		b.reset()
	}
	add(1, raftpb.MsgHeartbeat, 1, nil)
	take()
	for g := range uint64(5) {
		add(300+g, raftpb.MsgHeartbeat, g, nil)
	}
	add(7, raftpb.MsgApp, 9, []byte("records"))
	take()
	add(2, raftpb.MsgSnap, 4, []byte("snapshot"))
	take()
	return out
}

// FuzzReadFrame feeds any bytes to the frame reader and decoder, as a
// connection after the handshake would: nothing panics, no frame over the
// limit is returned, every error is a bad frame or the end of the input,
// and a frame that decodes re-encodes into one that decodes to the same
// envelopes.
func FuzzReadFrame(f *testing.F) {
	for _, fr := range seedFrames() {
		f.Add(fr)
		f.Add(fr[:len(fr)-1])
		bad := bytes.Clone(fr)
		bad[5] ^= 1
		f.Add(bad)
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := frameReader{r: bytes.NewReader(data), max: fuzzMaxFrame}
		for {
			body, crc, err := fr.next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrBadFrame) {
					t.Fatalf("reader error %v is neither the end nor a bad frame", err)
				}
				return
			}
			if frameHeaderSize+len(body) > fuzzMaxFrame {
				t.Fatalf("the reader returned a frame of %d bytes; the limit is %d", frameHeaderSize+len(body), fuzzMaxFrame)
			}
			if !checkDecode(t, body, crc) {
				return
			}
		}
	})
}

// FuzzDecodeEnvelopes decodes any bytes as the envelopes of a frame whose
// CRC is right, which the fuzzer could not otherwise reach.
func FuzzDecodeEnvelopes(f *testing.F) {
	for _, fr := range seedFrames() {
		f.Add(fr[frameHeaderSize:])
	}
	f.Add([]byte{0, 1, 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, body, checksum.Mask(checksum.Value(body)))
	})
}

// checkDecode decodes body: an error must be a bad frame; a success must
// re-encode into a frame that decodes to the same envelopes. It reports
// whether body decoded.
func checkDecode(t *testing.T, body []byte, crc uint32) bool {
	got, err := decodeFrame(body, crc, 1, 2)
	if err != nil {
		if !errors.Is(err, ErrBadFrame) {
			t.Fatalf("decode error %v is not a bad frame", err)
		}
		return false
	}
	if len(got) == 0 {
		t.Fatal("a frame decoded to no envelopes")
	}
	var b batch
	for i := range got {
		if err := b.add(got[i].Group, &got[i].Msg, proto.Size(&got[i].Msg), 1<<30); err != nil {
			t.Fatalf("a decoded envelope does not encode: %v", err)
		}
	}
	b.seal()
	fr := frameReader{r: bytes.NewReader(b.buf), max: 1 << 30}
	var again []cluster.Envelope
	for {
		body, crc, err := fr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("a re-encoded frame does not read: %v", err)
		}
		es, err := decodeFrame(body, crc, 1, 2)
		if err != nil {
			t.Fatalf("a re-encoded frame does not decode: %v", err)
		}
		for i := range es {
			again = append(again, cluster.Envelope{Group: es[i].Group})
			proto.Merge(&again[len(again)-1].Msg, &es[i].Msg)
		}
	}
	if len(again) != len(got) {
		t.Fatalf("%d envelopes re-encoded as %d", len(got), len(again))
	}
	for i := range got {
		if got[i].Group != again[i].Group || !proto.Equal(&got[i].Msg, &again[i].Msg) {
			t.Fatalf("envelope %d changed in a round trip: group %d %v, then group %d %v", i, got[i].Group, &got[i].Msg, again[i].Group, &again[i].Msg)
		}
	}
	return true
}

// FuzzDecodeHello decodes any bytes as a hello and judges it as both
// sides would: nothing panics, a hello that parses marshals back to the
// same bytes, and an accepted one names the acceptor and its cluster.
func FuzzDecodeHello(f *testing.F) {
	ok := hello{Version: version, Cluster: 7, From: 1, To: 2}.marshal()
	f.Add(ok[:])
	answer := hello{Version: version, Cluster: 7, From: 2, To: 1, MaxFrame: DefaultMaxFrameSize}.marshal()
	f.Add(answer[:])
	f.Add([]byte("GET / HTTP/1.1\r\nHost: sluice\r\n\r\n......."))
	f.Add(ok[:20])
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHello(data)
		if err != nil {
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("parse error %v is not a handshake error", err)
			}
			return
		}
		if b := h.marshal(); !bytes.Equal(b[:], data) {
			t.Fatalf("hello %x marshals back as %x", data, b)
		}
		if status, err := judge(h, 7, 2); (status == statusOK) != (err == nil) {
			t.Fatalf("judge said status %d with error %v", status, err)
		} else if status == statusOK && (h.To != 2 || h.Cluster != 7 || h.From == 0 || h.From == 2 || h.Version != version) {
			t.Fatalf("judge accepted %+v as node 2 of cluster 7", h)
		}
		if err := check(h, 7, 1, 2); err == nil && (h.Status != statusOK || h.From != 2 || h.To != 1 || h.Cluster != 7 || h.MaxFrame < minMaxFrameSize) {
			t.Fatalf("check accepted the answer %+v to node 1 dialing node 2 of cluster 7", h)
		}
	})
}
