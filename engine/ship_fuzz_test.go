package engine

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sluicedb/sluice/record"
)

// FuzzCheckShipChunk: any bytes shipped as a chunk either fail the check
// with ErrShipCorrupt, or are frames that decode one after another, from
// the chunk's first sequence number up by one, to the number the check
// returns, and that encode back to the very bytes shipped.
func FuzzCheckShipChunk(f *testing.F) {
	two := record.AppendFrame(nil, 7, 1e9, 0, []byte("key"), []byte("data"))
	two = record.AppendFrame(two, 8, 1e9+5, 0, nil, bytes.Repeat([]byte("d"), 100))
	f.Add(uint64(7), two)
	f.Add(uint64(7), two[:len(two)-8])
	f.Add(uint64(0), record.AppendFrame(nil, 0, 0, record.FlagEncrypted, []byte("k"), make([]byte, 40)))
	f.Add(uint64(1<<64-1), record.AppendFrame(nil, 1<<64-1, 1, 0, nil, []byte("last")))
	f.Fuzz(func(t *testing.T, first uint64, frames []byte) {
		next, err := CheckShipChunk(ShipChunk{First: first, Frames: frames})
		if err != nil {
			if !errors.Is(err, ErrShipCorrupt) {
				t.Fatalf("a failure that is not ErrShipCorrupt: %v", err)
			}
			return
		}
		var again []byte
		seq := first
		for it := record.NewFrameIter(frames); ; seq++ {
			fr, ok := it.Next()
			if !ok {
				if it.Err() != nil {
					t.Fatalf("accepted frames fail to iterate: %v", it.Err())
				}
				break
			}
			if fr.Seq != seq {
				t.Fatalf("accepted frame at %d carries %d", seq, fr.Seq)
			}
			again = record.AppendFrame(again, fr.Seq, fr.Time, fr.Flags, fr.Key, fr.Data)
		}
		if seq != next || !bytes.Equal(again, frames) {
			t.Fatalf("accepted frames end at %d (the check says %d) and re-encode to %d bytes of the %d shipped", seq, next, len(again), len(frames))
		}
	})
}
