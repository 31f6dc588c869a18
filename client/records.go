package client

import (
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/wire"
	"github.com/valyala/bytebufferpool"
)

// Record is one record of a read result or subscription event, decoded
// from its stored frame after the frame's CRC was verified. Key and Data
// alias the response's buffer (see ReadResult.Release and Event).
type Record struct {
	Seq     api.SeqNum
	Arrival time.Time
	// Flags are the stored frame's flags (record.FlagEncrypted, ...).
	Flags uint16
	Key   []byte
	Data  []byte
}

// Batch is what a read result and a subscription event hold: records in
// order and where they end.
type Batch struct {
	// Records are the records, in order; their CRCs were verified. How long
	// their Key and Data stay valid: see ReadResult and Event.
	Records []Record
	// Bytes counts the keys and data of Records.
	Bytes int
	// Next is where the following read or subscription starts.
	Next api.Position
	// MillisBehind is how far the end of the batch is behind the shard's
	// newest record.
	MillisBehind int64
	// ShardEnd is set when the shard is closed and the batch reached its
	// end: continue with ChildShards (after every other parent of theirs).
	ShardEnd    bool
	ChildShards []api.ShardInfo
}

// decode verifies the record frames of a result or event against its head
// and fills b, reusing b.Records. On an error it leaves b's position fields
// alone.
func (b *Batch) decode(frames []byte, head *wire.ResultHead) error {
	var err error
	b.Records, b.Bytes, err = decodeRecords(frames, head, b.Records[:0])
	if err != nil {
		return err
	}
	b.Next, b.MillisBehind, b.ShardEnd, b.ChildShards = head.Next, head.MillisBehind, head.ShardEnd, head.Children
	return nil
}

// ReadResult is the outcome of a Read. The Key and Data of its Records are
// valid until Release.
type ReadResult struct {
	Batch

	head wire.ResultHead
	body *bytebufferpool.ByteBuffer
}

// Release returns the result's buffer to the client's pool; Records must
// not be used afterwards. Calling it is optional (without it the garbage
// collector frees the buffer) and safe more than once.
func (r *ReadResult) Release() {
	if r.body != nil {
		wire.PutBuf(r.body)
		r.body = nil
	}
	clear(r.Records)
	r.Records = r.Records[:0]
}

// decodeRecords verifies the record frames of a result against its head
// and appends the records to out (see wire.ResultFrames for what is
// checked). It does not allocate beyond growing out.
func decodeRecords(frames []byte, head *wire.ResultHead, out []Record) ([]Record, int, error) {
	rf := wire.NewResultFrames(frames, head)
	bytes := 0
	for f, ok := rf.Next(); ok; f, ok = rf.Next() {
		out = append(out, Record{
			Seq:     api.SeqNum{Incarnation: head.Next.Incarnation, Shard: uint32(head.Next.Shard), Seq: f.Seq},
			Arrival: time.Unix(0, f.Time),
			Flags:   f.Flags,
			Key:     f.Key,
			Data:    f.Data,
		})
		bytes += len(f.Key) + len(f.Data)
	}
	return out, bytes, rf.Err()
}

// sameShard reports whether a and b are in the same shard of the same
// stream incarnation.
func sameShard(a, b api.Position) bool {
	return a.Stream == b.Stream && a.Incarnation == b.Incarnation && a.Shard == b.Shard
}
