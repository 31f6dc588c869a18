package index

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzUnmarshal: any bytes give a *CorruptionError or a valid index, and a
// valid index marshals back to exactly the bytes it came from.
func FuzzUnmarshal(f *testing.F) {
	f.Add(New(4096, 0).Marshal(nil, 0, Tail{}))
	ix := fixedIndex(0)
	f.Add(ix.Marshal(nil, 1000, Tail{End: 16384, Count: 50, LastTime: 300}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, hdr, tail, err := Unmarshal(b)
		if err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ix != nil {
				t.Fatalf("Unmarshal error %v (index %v) is not a bare *CorruptionError", err, ix)
			}
			if ce.Offset < 0 || ce.Offset > int64(len(b)) {
				t.Fatalf("error offset %d outside the %d-byte input", ce.Offset, len(b))
			}
			return
		}
		if hdr.Version != Version || hdr.Interval != ix.Interval() {
			t.Fatalf("header %+v disagrees with the index (interval %d)", hdr, ix.Interval())
		}
		if again := ix.Marshal(nil, hdr.Base, tail); !bytes.Equal(again, b) {
			t.Fatalf("re-marshalling a decoded index gives different bytes")
		}
		// Lookups on whatever was accepted are consistent with the entries.
		for _, e := range ix.Entries() {
			if got, ok := ix.LookupSeq(e.RelSeq); !ok || got != e {
				t.Fatalf("LookupSeq(%d) = %v, %v; want %v", e.RelSeq, got, ok, e)
			}
		}
	})
}
