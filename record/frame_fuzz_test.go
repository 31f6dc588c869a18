package record

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeFrame: any bytes decode to a frame, ErrEndOfData or a
// *CorruptionError, never a panic; a decoded frame re-encodes to exactly the
// bytes it was decoded from.
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Add(AppendFrame(nil, 0, 0, 0, nil, nil))
	f.Add(AppendFrame(nil, 1, 1700000000000000000, FlagEncrypted, []byte("partition-key"), []byte("hello, world")))
	f.Add(AppendFrame(nil, 1<<63, -1, FlagCompressed, bytes.Repeat([]byte("k"), 256), bytes.Repeat([]byte{0xff}, 3)))
	two := append(AppendFrame(nil, 5, 6, 0, []byte("a"), []byte("b")), AppendFrame(nil, 6, 7, 0, []byte("c"), nil)...)
	f.Add(two)
	torn := AppendFrame(nil, 9, 9, 0, []byte("key"), []byte("torn data"))
	f.Add(torn[:len(torn)-5])
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := DecodeFrame(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n = %d", err, n)
			}
			var ce *CorruptionError
			if err != ErrEndOfData && !(errors.Is(err, ErrCorrupt) && errors.As(err, &ce)) {
				t.Fatalf("error %v is neither ErrEndOfData nor a *CorruptionError", err)
			}
			return
		}
		if n <= 0 || n > len(b) || n%Alignment != 0 || n != FrameSize(len(fr.Key), len(fr.Data)) {
			t.Fatalf("decoded n = %d of %d bytes for a %d B key and %d B data", n, len(b), len(fr.Key), len(fr.Data))
		}
		re := make([]byte, n)
		if m := PutFrame(re, fr.Seq, fr.Time, fr.Flags, fr.Key, fr.Data); m != n || !bytes.Equal(re, b[:n]) {
			t.Fatalf("re-encoding differs from the decoded bytes")
		}
	})
}
