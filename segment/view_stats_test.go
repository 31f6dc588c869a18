package segment

import (
	"bytes"
	"testing"

	"github.com/sluicedb/sluice/record"
)

func TestView_PayloadMatchesDecodedFrames(t *testing.T) {
	var b []byte
	want, last := 0, int64(0)
	for i := 0; i < 50; i++ {
		key := bytes.Repeat([]byte("k"), 1+i%7)
		data := bytes.Repeat([]byte{byte(i)}, (i*37)%300)
		b = append(b, record.AppendFrame(nil, uint64(i), int64(1000+i), 0, key, data)...)
		want += len(key) + len(data)
		last = int64(1000 + i)
	}
	v := View{Frames: b, Count: 50}
	got, gotLast, err := v.Payload()
	if err != nil || got != want || gotLast != last {
		t.Fatalf("Payload = %d bytes, last %d; want %d, %d", got, gotLast, want, last)
	}
	if n, l, err := (&View{}).Payload(); n != 0 || l != 0 || err != nil {
		t.Fatalf("empty view: %d, %d", n, l)
	}
}
