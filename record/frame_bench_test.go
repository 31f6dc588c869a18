package record

import (
	"fmt"
	"testing"

	"github.com/sluicedb/sluice/internal/checksum"
)

// BenchmarkPutFrame measures encoding one frame with its CRC (16 B key).
func BenchmarkPutFrame(b *testing.B) {
	for _, sz := range benchSizes {
		size := sz.n
		b.Run(fmt.Sprintf("size=%s", sz.name), func(b *testing.B) {
			key, data, dst := putFrameInputs(b, size)
			for i := 0; b.Loop(); i++ {
				PutFrame(dst, uint64(i), int64(i), 0, key, data)
			}
		})
		// Baseline: copying the key and data and a CRC-32C over the frame,
		// the work PutFrame cannot avoid.
		b.Run(fmt.Sprintf("size=%s/baseline=copy+crc", sz.name), func(b *testing.B) {
			key, data, dst := putFrameInputs(b, size)
			for b.Loop() {
				copy(dst[HeaderSize:], key)
				copy(dst[HeaderSize+len(key):], data)
				sink = checksum.Value(dst[4:])
			}
		})
	}
}

var sink uint32

// putFrameInputs returns a 16 B key, size bytes of data and a buffer that
// holds their frame, and sets b up to report size bytes an op and allocations.
func putFrameInputs(b *testing.B, size int) (key, data, dst []byte) {
	key = []byte("partition-key-16")
	data = make([]byte, size)
	dst = make([]byte, FrameSize(len(key), len(data)))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	return key, data, dst
}

// BenchmarkDecodeFrame measures decoding one frame and verifying its CRC.
func BenchmarkDecodeFrame(b *testing.B) {
	for _, sz := range benchSizes {
		size := sz.n
		b.Run(fmt.Sprintf("size=%s", sz.name), func(b *testing.B) {
			fr := AppendFrame(nil, 1, 2, 0, []byte("partition-key-16"), make([]byte, size))
			b.SetBytes(int64(len(fr)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecodeFrame(fr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchSizes are the data sizes of the frame benchmarks.
var benchSizes = []struct {
	name string
	n    int
}{{"100B", 100}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}}
