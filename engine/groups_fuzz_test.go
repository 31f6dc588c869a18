package engine

import (
	"bytes"
	"testing"
)

// FuzzDecodeGroupRecord: any payload either fails to decode or decodes to a
// record that encodes back to the same bytes; and scanning any bytes as a
// log stops at a frame boundary within them.
func FuzzDecodeGroupRecord(f *testing.F) {
	for _, r := range []groupRecord{
		{Type: groupRecGroup, Group: "g", Failover: 10000, Start: 1, Created: 1_800_000_000_000_000_000},
		{Type: groupRecDelete, Group: "orders"},
		{Type: groupRecCheckpoint, Group: "g", Shard: 7, Kind: uint8(cpPartial), Seq: 12, Sub: 3},
		{Type: groupRecLease, Group: "g", Shard: 2, Owner: "host-1/4242", Epoch: 9},
	} {
		f.Add(appendGroupRecord(nil, &r))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := decodeGroupRecord(p)
		if err == nil {
			if again := appendGroupRecord(nil, &r); !bytes.Equal(again, p) {
				t.Fatalf("decoded %+v re-encodes as %x; want %x", r, again, p)
			}
		}
		n := scanGroupFrames(p, func(groupRecord) {})
		if n < 0 || n > len(p) {
			t.Fatalf("valid prefix %d of %d bytes", n, len(p))
		}
	})
}
