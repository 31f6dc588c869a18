package client

import (
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/record"
	"github.com/sluicedb/sluice/wire"
)

// FuzzDecodeResult decodes arbitrary read result bodies and verifies their
// records: no crash, and a result that verifies has exactly the records it
// claims.
func FuzzDecodeResult(f *testing.F) {
	head := wire.ResultHead{Next: api.Position{Stream: "f", Seq: 2}, Records: 2}
	var frames []byte
	for i := range 2 {
		rec := make([]byte, record.FrameSize(1, 3))
		record.PutFrame(rec, uint64(i), int64(i), 0, []byte("k"), []byte("abc"))
		frames = append(frames, rec...)
	}
	head.FramesLen = uint32(len(frames))
	f.Add(append(head.AppendTo(nil), frames...))
	f.Add((&wire.ResultHead{ShardEnd: true, Children: []api.ShardInfo{{Index: 1, ID: api.ShardID(1), Closed: true}}}).AppendTo(nil))
	f.Fuzz(func(t *testing.T, body []byte) {
		var h wire.ResultHead
		frames, err := wire.DecodeResult(body, &h)
		if err != nil {
			return
		}
		recs, _, err := decodeRecords(frames, &h, nil)
		if err == nil && len(recs) != int(h.Records) {
			t.Fatalf("verified %d records; the head says %d", len(recs), h.Records)
		}
	})
}
