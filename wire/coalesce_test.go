package wire

import (
	"bytes"
	"testing"
)

// writeRecorder records the size of every Write and what was written.
type writeRecorder struct {
	sizes []int
	buf   bytes.Buffer
}

func (w *writeRecorder) Write(b []byte) (int, error) {
	w.sizes = append(w.sizes, len(b))
	return w.buf.Write(b)
}

// TestWriteCoalesced_RecordSizedWrites: the bytes arrive whole and in
// order, and every write but the last is a whole number of 16 KiB records,
// whatever the mix of small and large buffers.
func TestWriteCoalesced_RecordSizedWrites(t *testing.T) {
	mk := func(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }
	cases := []struct {
		name       string
		vec        [][]byte
		wantWrites int
	}{
		{"nothing", nil, 0},
		{"one small", [][]byte{mk(40, 1)}, 1},
		{"a thousand small frames", func() [][]byte {
			var v [][]byte
			for i := range 1000 {
				v = append(v, mk(100, byte(i)))
			}
			return v
		}(), (1000*100 + TLSChunkSize - 1) / TLSChunkSize},
		{"header then large body", [][]byte{mk(32, 1), mk(1<<20+5, 2), mk(32, 3)}, -1},
		{"large aligned", [][]byte{mk(4*TLSChunkSize, 7)}, 1},
		{"alternating", [][]byte{mk(10, 1), mk(3*TLSChunkSize+1, 2), mk(TLSChunkSize-1, 3), mk(20000, 4), mk(1, 5)}, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w writeRecorder
			n, err := WriteCoalesced(&w, tc.vec)
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Join(tc.vec, nil)
			if n != int64(len(want)) || !bytes.Equal(w.buf.Bytes(), want) {
				t.Fatalf("wrote %d bytes (reported %d); want the %d bytes of the buffers in order", w.buf.Len(), n, len(want))
			}
			for i, s := range w.sizes {
				if s == 0 || i < len(w.sizes)-1 && s%TLSChunkSize != 0 {
					t.Fatalf("write %d of %v is %d bytes: not a whole number of records", i, w.sizes, s)
				}
			}
			if tc.wantWrites >= 0 && len(w.sizes) != tc.wantWrites {
				t.Fatalf("%d writes (%v); want %d", len(w.sizes), w.sizes, tc.wantWrites)
			}
		})
	}
}

func TestWriteCoalesced_NoAllocations(t *testing.T) {
	vec := [][]byte{make([]byte, 100), make([]byte, 40000), make([]byte, 7)}
	var w writeRecorder
	WriteCoalesced(&w, vec)
	allocs := testing.AllocsPerRun(100, func() {
		w.buf.Reset()
		w.sizes = w.sizes[:0]
		WriteCoalesced(&w, vec)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per call", allocs)
	}
}
