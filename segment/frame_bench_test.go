package segment

import (
	"fmt"
	"testing"

	"github.com/sluicedb/sluice/internal/checksum"
)

// BenchmarkPutFrame measures encoding one frame with its CRC (16 B key).
func BenchmarkPutFrame(b *testing.B) {
	for _, size := range []int{100, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("size=%s", sizeName(size)), func(b *testing.B) {
			key := []byte("partition-key-16")
			data := make([]byte, size)
			dst := make([]byte, FrameSize(len(key), len(data)))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				PutFrame(dst, uint64(i), int64(i), 0, key, data)
			}
		})
		// Baseline: copying the key and data and a CRC-32C over the frame,
		// the work PutFrame cannot avoid.
		b.Run(fmt.Sprintf("size=%s/baseline=copy+crc", sizeName(size)), func(b *testing.B) {
			key := []byte("partition-key-16")
			data := make([]byte, size)
			dst := make([]byte, FrameSize(len(key), len(data)))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst[HeaderSize:], key)
				copy(dst[HeaderSize+len(key):], data)
				sink = checksum.Value(dst[4:])
			}
		})
	}
}

var sink uint32

// BenchmarkDecodeFrame measures decoding one frame and verifying its CRC.
func BenchmarkDecodeFrame(b *testing.B) {
	for _, size := range []int{100, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("size=%s", sizeName(size)), func(b *testing.B) {
			fr := encodeFrame(1, 2, 0, []byte("partition-key-16"), make([]byte, size))
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

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
