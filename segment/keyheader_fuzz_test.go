package segment

import (
	"bytes"
	"testing"
)

// FuzzParseKeyHeader: any bytes parse to a key header or an error, never a
// panic; a parsed header's blob is 1 to MaxKeyBlob bytes and survives being
// written back into a fresh header.
func FuzzParseKeyHeader(f *testing.F) {
	blob := bytes.Repeat([]byte{0xab}, 81)
	h := appendKeyHeader(nil, blob)
	f.Add(h)
	two := bytes.Clone(h)
	putKeySlot(two[16+keySlotSize:16+2*keySlotSize], []byte("newer"), 2)
	f.Add(two)
	torn := bytes.Clone(h)
	torn[30] ^= 1
	f.Add(torn)
	f.Add(h[:100])
	f.Add(make([]byte, KeyHeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		kh, err := parseKeyHeader(b)
		if err != nil {
			return
		}
		if len(kh.blob) == 0 || len(kh.blob) > MaxKeyBlob || kh.gen == 0 {
			t.Fatalf("parsed a header with a %d B blob, generation %d", len(kh.blob), kh.gen)
		}
		again, err := parseKeyHeader(appendKeyHeader(nil, kh.blob))
		if err != nil || !bytes.Equal(again.blob, kh.blob) {
			t.Fatalf("blob does not round-trip: %v", err)
		}
	})
}
