package segment

import (
	"fmt"
	"testing"
)

// BenchmarkRead measures Log.Read plus a walk of the returned frames (the
// CRC of each checked by the iterator) over a log on the real disk (in the
// page cache) holding 64 MiB of 1 KiB records in 16 MiB segments: reads of
// 1, 100 and 1000 records, sequentially through sealed segments and the
// active one. MB/s counts the frame bytes handed out.
func BenchmarkRead(b *testing.B) {
	const size, total = 1 << 10, 64 << 20
	dir := b.TempDir()
	l, _, err := Open(dir, Options{SegmentSize: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	data := make([]byte, size)
	var batch Batch
	for written := 0; written < total; {
		if err := writeCopies(l, &batch, 256, 1, benchKey, data); err != nil {
			b.Fatal(err)
		}
		written += batch.Size()
		l.Publish()
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	_, next := l.Bounds()
	for _, records := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
			var v View
			defer v.Release()
			seq := uint64(0)
			frames := 0
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Read(seq, records, 0, &v); err != nil {
					b.Fatal(err)
				}
				it := v.Iter()
				for _, ok := it.Next(); ok; _, ok = it.Next() {
				}
				if it.Err() != nil {
					b.Fatal(it.Err())
				}
				frames += len(v.Frames)
				seq = v.Next
				if seq >= next {
					seq = 0
				}
			}
			b.SetBytes(int64(frames / max(b.N, 1)))
		})
	}
}
