package record

import (
	"fmt"
	"testing"
)

// BenchmarkSeal measures laying out and sealing one frame (16 B key) in
// place, and opening it into a plain frame, against PutFrame's copy + CRC.
func BenchmarkSeal(b *testing.B) {
	for _, sz := range benchSizes {
		size := sz.n
		b.Run(fmt.Sprintf("size=%s/op=seal", sz.name), func(b *testing.B) {
			c := testCipher(b, 1, 2)
			key, data, _ := putFrameInputs(b, size)
			f := make([]byte, SealedFrameSize(len(key), len(data)))
			for i := 0; b.Loop(); i++ {
				PutUnsealed(f, uint64(i), 1, key, data)
				c.Seal(f)
			}
		})
		b.Run(fmt.Sprintf("size=%s/op=open", sz.name), func(b *testing.B) {
			c := testCipher(b, 1, 2)
			key, data, _ := putFrameInputs(b, size)
			f := make([]byte, SealedFrameSize(len(key), len(data)))
			PutUnsealed(f, 1, 1, key, data)
			c.Seal(f)
			dst := make([]byte, len(f))
			for b.Loop() {
				if _, _, err := c.Open(dst, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
