package wire

import (
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/segment"
	"github.com/valyala/bytebufferpool"
)

// Record is one record of a read result or subscription event, decoded
// from its stored frame after the frame's CRC was verified. Key and Data
// alias the response's buffer (see ReadResult.Release and Event).
type Record struct {
	Seq     api.SeqNum
	Arrival time.Time
	// Flags are the stored frame's flags (segment.FlagEncrypted, ...).
	Flags uint16
	Key   []byte
	Data  []byte
}

// ReadResult is the outcome of a Read.
type ReadResult struct {
	// Records are the records read, in order. Their Key and Data are valid
	// until Release.
	Records []Record
	// Bytes counts the keys and data of Records.
	Bytes int
	// Next is where the following read starts.
	Next api.Position
	// MillisBehind is how far the end of this read is behind the shard's
	// newest record.
	MillisBehind int64
	// ShardEnd is set when the shard is closed and this read reached its
	// end: continue with ChildShards (after every other parent of theirs).
	ShardEnd    bool
	ChildShards []api.ShardInfo

	head resultHead
	body *bytebufferpool.ByteBuffer
}

// Release returns the result's buffer to the client's pool; Records must
// not be used afterwards. Calling it is optional (without it the garbage
// collector frees the buffer) and safe more than once.
func (r *ReadResult) Release() {
	if r.body != nil {
		putBuf(r.body)
		r.body = nil
	}
	clear(r.Records)
	r.Records = r.Records[:0]
}

// decodeRecords verifies the record frames of a result against its head
// and appends the records to out. Every frame's CRC, bounds and flags are
// checked (segment.DecodeFrame), the frames must be exactly head.Records,
// their sequence numbers consecutive and followed by head.Next. It does
// not allocate beyond growing out.
func decodeRecords(frames []byte, head *resultHead, out []Record) ([]Record, int, error) {
	it := segment.NewFrameIter(frames)
	var prev uint64
	n, bytes := 0, 0
	for f, ok := it.Next(); ok; f, ok = it.Next() {
		if n > 0 && f.Seq != prev+1 {
			return out, bytes, fmt.Errorf("%w: record %d has sequence %d after %d", ErrCorruptRecord, n, f.Seq, prev)
		}
		prev = f.Seq
		out = append(out, Record{
			Seq:     api.SeqNum{Incarnation: head.Next.Incarnation, Shard: uint32(head.Next.Shard), Seq: f.Seq},
			Arrival: time.Unix(0, f.Time),
			Flags:   f.Flags,
			Key:     f.Key,
			Data:    f.Data,
		})
		bytes += len(f.Key) + len(f.Data)
		n++
	}
	if err := it.Err(); err != nil {
		return out, bytes, fmt.Errorf("%w: %w", ErrCorruptRecord, err)
	}
	if n != int(head.Records) {
		return out, bytes, fmt.Errorf("%w: the result says %d records but its frames hold %d", ErrCorruptRecord, head.Records, n)
	}
	if n > 0 && head.Next.Seq != prev+1 {
		return out, bytes, fmt.Errorf("%w: the next position %d does not follow the last record %d", ErrCorruptRecord, head.Next.Seq, prev)
	}
	return out, bytes, nil
}
