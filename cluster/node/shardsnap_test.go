package node

import (
	"bytes"
	"testing"
)

func TestShardSnapshot_RoundTrip(t *testing.T) {
	for _, c := range []struct {
		next uint64
		seal []byte
	}{{0, nil}, {42, nil}, {1 << 40, []byte(`{"end":7,"token":"01"}`)}} {
		next, seal, known, err := decodeShardSnapshot(encodeShardSnapshot(c.next, c.seal))
		if err != nil || !known || next != c.next || !bytes.Equal(seal, c.seal) {
			t.Fatalf("round trip of (%d, %q): (%d, %q, %v, %v)", c.next, c.seal, next, seal, known, err)
		}
	}
	// A snapshot from before seals were carried says nothing of them.
	if next, _, known, err := decodeShardSnapshot([]byte{5, 0, 0, 0, 0, 0, 0, 0}); err != nil || known || next != 5 {
		t.Fatalf("an 8-byte snapshot: %d, %v, %v", next, known, err)
	}
	for _, b := range [][]byte{{}, {1, 2, 3}, {5, 0, 0, 0, 0, 0, 0, 0, 2}, {5, 0, 0, 0, 0, 0, 0, 0, 0, 'x'}, {5, 0, 0, 0, 0, 0, 0, 0, 1}} {
		if _, _, _, err := decodeShardSnapshot(b); err == nil || shardSnapshotOK(b) {
			t.Errorf("%q decoded", b)
		}
	}
}

// FuzzShardSnapshot: whatever decodes encodes back to the same bytes.
func FuzzShardSnapshot(f *testing.F) {
	f.Add(encodeShardSnapshot(3, nil))
	f.Add(encodeShardSnapshot(9, []byte(`{"end":9}`)))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		next, seal, known, err := decodeShardSnapshot(b)
		if err != nil || !known {
			return
		}
		if got := encodeShardSnapshot(next, seal); !bytes.Equal(got, b) {
			t.Fatalf("%q decoded to (%d, %q) and encodes to %q", b, next, seal, got)
		}
	})
}
