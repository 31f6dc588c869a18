package node

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/record"
)

// seedShipMsgs are valid messages of every kind, framed.
func seedShipMsgs() [][]byte {
	frames := record.AppendFrame(nil, 7, 1e9, 0, []byte("key"), []byte("data"))
	frames = record.AppendFrame(frames, 8, 1e9, 0, []byte("k2"), []byte("more data"))
	msgs := []shipMsg{
		{Kind: shipRequest, Group: 1<<32 | 3, From: 7, To: 900, Window: shipWindow, Chunk: shipChunkBytes},
		{Kind: shipChunk, C: engine.ShipChunk{First: 7, Frames: frames}},
		{Kind: shipChunk, C: engine.ShipChunk{First: 7, KeyBlob: []byte("wrapped key"), Frames: frames}},
		{Kind: shipAck, Acks: 2},
		{Kind: shipEnd, Next: 900},
		{Kind: shipRefusal, Why: "node 2 holds no shard of group 3"},
	}
	var out [][]byte
	for i := range msgs {
		out = append(out, appendShipMsg(nil, &msgs[i], true))
	}
	return out
}

// FuzzReadShipMsg reads any bytes as a stream of shipping messages: it
// never panics, and every message it accepts encodes back to the very
// bytes it was read from (a chunk's frames are then checked by
// engine.CheckShipChunk, fuzzed with the record format's own targets).
func FuzzReadShipMsg(f *testing.F) {
	seeds := seedShipMsgs()
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add(bytes.Join(seeds, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		sr := shipReader{r: bytes.NewReader(b)}
		off := 0
		for {
			m, err := sr.next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errShipProtocol) {
					t.Fatalf("an error that is neither the end nor a protocol violation: %v", err)
				}
				return
			}
			n := shipHeaderLen + len(sr.buf)
			if got := appendShipMsg(nil, &m, true); !bytes.Equal(got, b[off:off+n]) {
				t.Fatalf("a %q message re-encodes to\n%x\nnot the bytes it was read from\n%x", m.Kind, got, b[off:off+n])
			}
			off += n
		}
	})
}

// Every seed decodes to itself, and a damaged byte anywhere in a message
// is caught by its CRC or its layout.
func TestShipWire_RoundTripAndDamage(t *testing.T) {
	for _, s := range seedShipMsgs() {
		sr := shipReader{r: bytes.NewReader(s)}
		m, err := sr.next()
		if err != nil {
			t.Fatalf("seed %x: %v", s, err)
		}
		if got := appendShipMsg(nil, &m, true); !bytes.Equal(got, s) {
			t.Fatalf("seed %q re-encodes differently", m.Kind)
		}
		for i := 4; i < len(s); i++ {
			d := bytes.Clone(s)
			d[i] ^= 0x01
			sr := shipReader{r: bytes.NewReader(d)}
			if _, err := sr.next(); !errors.Is(err, errShipProtocol) {
				t.Fatalf("a %q message with byte %d flipped: %v; want a protocol violation", m.Kind, i, err)
			}
		}
	}
}
