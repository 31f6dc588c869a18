package wire

import (
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// message is the body of one request or response. appendTo encodes it;
// decodeFrom decodes it, reusing the message's slices where it can, and
// records the first failure in the decoder.
type message interface {
	appendTo(b []byte) []byte
	decodeFrom(d *decoder)
}

// decodeMessage decodes body into m and checks that nothing is left over.
func decodeMessage(body []byte, m message) error {
	d := newDecoder(body)
	m.decodeFrom(&d)
	return d.finish()
}

// Requests.

// reqStream names a stream: DescribeStream, ListShards, ListTags.
type reqStream struct{ Stream string }

func (m *reqStream) appendTo(b []byte) []byte { return appendStr(b, m.Stream) }
func (m *reqStream) decodeFrom(d *decoder)    { m.Stream = d.str("stream name") }

// reqEmpty has no body: ListStreams, Cancel, and the responses of operations
// that return nothing.
type reqEmpty struct{}

func (*reqEmpty) appendTo(b []byte) []byte { return b }
func (*reqEmpty) decodeFrom(*decoder)      {}

// reqCreateStream: str name | u32 shard count | u8 mode | u32 max record size
// | u32 retention hours | u8 durability | optional quotas | tags.
type reqCreateStream struct{ In api.CreateStreamInput }

func (m *reqCreateStream) appendTo(b []byte) []byte {
	in := &m.In
	b = appendStr(b, in.Name)
	b = appendU32(b, uint32(in.ShardCount))
	b = appendU8(b, modeCode(in.Mode))
	b = appendU32(b, uint32(in.MaxRecordSize))
	b = appendU32(b, uint32(in.RetentionHours))
	b = appendU8(b, uint8(in.Durability))
	b = appendOptQuotas(b, in.Quotas)
	return appendTags(b, in.Tags)
}

func (m *reqCreateStream) decodeFrom(d *decoder) {
	in := &m.In
	in.Name = d.str("stream name")
	in.ShardCount = int(d.u32("shard count"))
	in.Mode = d.mode("mode")
	in.MaxRecordSize = int(d.u32("max record size"))
	in.RetentionHours = int(d.u32("retention hours"))
	in.Durability = d.durability("durability")
	in.Quotas = d.optQuotas("quotas")
	in.Tags = d.tags("tags")
}

// reqDeleteStream: str name | bool enforce consumer deletion.
type reqDeleteStream struct {
	Stream  string
	Enforce bool
}

func (m *reqDeleteStream) appendTo(b []byte) []byte {
	return appendBool(appendStr(b, m.Stream), m.Enforce)
}

func (m *reqDeleteStream) decodeFrom(d *decoder) {
	m.Stream = d.str("stream name")
	m.Enforce = d.boolean("enforce consumer deletion")
}

// Record flags in put requests.
const (
	recExplicitHash uint8 = 1 << 0 // an explicit hash key follows the flags
	recKnownFlags         = recExplicitHash
)

// appendRecord: u8 flags | [hash] | bytes16 key | bytes32 data.
func appendRecord(b []byte, r *api.PutRecord) []byte {
	if r.HasExplicitHash {
		b = appendU8(b, recExplicitHash)
		b = appendHash(b, r.ExplicitHash)
	} else {
		b = appendU8(b, 0)
	}
	b = appendBytes16(b, r.Key)
	return appendBytes32(b, r.Data)
}

// recordSize is the encoded size of r in a put request.
func recordSize(key, data []byte, explicit bool) int {
	n := 1 + 2 + len(key) + 4 + len(data)
	if explicit {
		n += hashSize
	}
	return n
}

func (d *decoder) record(r *api.PutRecord) {
	flags := d.u8("record flags")
	if flags&^recKnownFlags != 0 {
		d.off--
		d.invalid("record flags", "unknown flag bits %#02x", flags&^recKnownFlags)
		return
	}
	r.HasExplicitHash = flags&recExplicitHash != 0
	r.ExplicitHash = api.HashKey{}
	if r.HasExplicitHash {
		r.ExplicitHash = d.hash("explicit hash key")
	}
	r.Key = d.bytes16("partition key")
	r.Data = d.bytes32("data")
}

// reqPutRecord: str stream | str sequence number for ordering (decimal, may
// be empty) | record. Stream and SeqForOrdering alias the body on decode.
type reqPutRecord struct {
	Stream         []byte
	SeqForOrdering []byte
	Rec            api.PutRecord
}

func (m *reqPutRecord) appendTo(b []byte) []byte {
	b = appendBytes16(b, m.Stream)
	b = appendBytes16(b, m.SeqForOrdering)
	return appendRecord(b, &m.Rec)
}

func (m *reqPutRecord) decodeFrom(d *decoder) {
	m.Stream = d.strBytes("stream name")
	m.SeqForOrdering = d.strBytes("sequence number for ordering")
	d.record(&m.Rec)
}

// reqPutRecords: str stream | u16 count | record × count. Records alias the
// body on decode; Recs is reused.
type reqPutRecords struct {
	Stream []byte
	Recs   []api.PutRecord
}

func (m *reqPutRecords) appendTo(b []byte) []byte {
	return appendPutRecords(appendBytes16(b, m.Stream), m.Recs)
}

// appendPutRecords appends the part of a PutRecords body after the stream
// name: the count and the records.
func appendPutRecords(b []byte, recs []api.PutRecord) []byte {
	b = appendU16(b, uint16(len(recs)))
	for i := range recs {
		b = appendRecord(b, &recs[i])
	}
	return b
}

// minRecordSize is the smallest encoded record: flags, empty key, empty data.
const minRecordSize = 1 + 2 + 4

func (m *reqPutRecords) decodeFrom(d *decoder) {
	m.Stream = d.strBytes("stream name")
	n := d.count("record count", false, minRecordSize)
	if cap(m.Recs) < n {
		m.Recs = make([]api.PutRecord, n)
	}
	m.Recs = m.Recs[:n]
	for i := 0; i < n && d.err == nil; i++ {
		d.record(&m.Recs[i])
	}
	if d.err != nil {
		clear(m.Recs)
		m.Recs = m.Recs[:0]
	}
}

// reqGetIterator: str stream | u32 shard | u8 type | seqnum | time.
type reqGetIterator struct {
	Stream    string
	Shard     uint32
	Type      api.IteratorType
	Seq       api.SeqNum // AT_ and AFTER_SEQUENCE_NUMBER
	Timestamp time.Time  // AT_TIMESTAMP
}

func (m *reqGetIterator) appendTo(b []byte) []byte {
	b = appendStr(b, m.Stream)
	b = appendU32(b, m.Shard)
	b = appendU8(b, iterCode(m.Type))
	b = appendSeqNum(b, m.Seq)
	return appendTime(b, m.Timestamp)
}

func (m *reqGetIterator) decodeFrom(d *decoder) {
	m.Stream = d.str("stream name")
	m.Shard = d.u32("shard")
	m.Type = d.iterType("iterator type")
	m.Seq = d.seqNum("sequence number")
	m.Timestamp = d.time("timestamp")
}

// reqRead: position | u32 max records | u32 max bytes.
type reqRead struct {
	Pos                  api.Position
	MaxRecords, MaxBytes uint32
}

func (m *reqRead) appendTo(b []byte) []byte {
	b = appendPosition(b, m.Pos)
	b = appendU32(b, m.MaxRecords)
	return appendU32(b, m.MaxBytes)
}

func (m *reqRead) decodeFrom(d *decoder) {
	m.Pos = d.position("position")
	m.MaxRecords = d.u32("max records")
	m.MaxBytes = d.u32("max bytes")
}

// reqSplitShard: str stream | u32 shard | hash new starting hash key.
type reqSplitShard struct {
	Stream   string
	Shard    uint32
	NewStart api.HashKey
}

func (m *reqSplitShard) appendTo(b []byte) []byte {
	return appendHash(appendU32(appendStr(b, m.Stream), m.Shard), m.NewStart)
}

func (m *reqSplitShard) decodeFrom(d *decoder) {
	m.Stream = d.str("stream name")
	m.Shard = d.u32("shard")
	m.NewStart = d.hash("new starting hash key")
}

// reqMergeShards: str stream | u32 shard | u32 adjacent shard.
type reqMergeShards struct {
	Stream          string
	Shard, Adjacent uint32
}

func (m *reqMergeShards) appendTo(b []byte) []byte {
	return appendU32(appendU32(appendStr(b, m.Stream), m.Shard), m.Adjacent)
}

func (m *reqMergeShards) decodeFrom(d *decoder) {
	m.Stream = d.str("stream name")
	m.Shard = d.u32("shard")
	m.Adjacent = d.u32("adjacent shard")
}

// reqStreamN: str stream | u32 value. UpdateShardCount (target shard count),
// IncreaseRetention and DecreaseRetention (hours), SetMaxRecordSize (bytes).
type reqStreamN struct {
	Stream string
	N      uint32
}

func (m *reqStreamN) appendTo(b []byte) []byte { return appendU32(appendStr(b, m.Stream), m.N) }

func (m *reqStreamN) decodeFrom(d *decoder) {
	m.Stream = d.str("stream name")
	m.N = d.u32("value")
}

// reqAddTags: str stream | tags.
type reqAddTags struct {
	Stream string
	Tags   map[string]string
}

func (m *reqAddTags) appendTo(b []byte) []byte { return appendTags(appendStr(b, m.Stream), m.Tags) }

func (m *reqAddTags) decodeFrom(d *decoder) {
	m.Stream = d.str("stream name")
	m.Tags = d.tags("tags")
}

// reqRemoveTags: str stream | u16 count | str key × count.
type reqRemoveTags struct {
	Stream string
	Keys   []string
}

func (m *reqRemoveTags) appendTo(b []byte) []byte {
	return appendStrList(appendStr(b, m.Stream), m.Keys, false)
}

func (m *reqRemoveTags) decodeFrom(d *decoder) {
	m.Stream = d.str("stream name")
	m.Keys = d.strList("tag keys", false)
}

// reqSetQuotas: str stream | optional quotas (absent: the server default).
type reqSetQuotas struct {
	Stream string
	Quotas *ratelimit.Limits
}

func (m *reqSetQuotas) appendTo(b []byte) []byte {
	return appendOptQuotas(appendStr(b, m.Stream), m.Quotas)
}

func (m *reqSetQuotas) decodeFrom(d *decoder) {
	m.Stream = d.str("stream name")
	m.Quotas = d.optQuotas("quotas")
}

// reqSetDurability: str stream | u8 durability.
type reqSetDurability struct {
	Stream     string
	Durability api.Durability
}

func (m *reqSetDurability) appendTo(b []byte) []byte {
	return appendU8(appendStr(b, m.Stream), uint8(m.Durability))
}

func (m *reqSetDurability) decodeFrom(d *decoder) {
	m.Stream = d.str("stream name")
	m.Durability = d.durability("durability")
}

// reqSetStreamMode: str stream | u8 mode (1 or 2).
type reqSetStreamMode struct {
	Stream string
	Mode   api.StreamMode
}

func (m *reqSetStreamMode) appendTo(b []byte) []byte {
	return appendU8(appendStr(b, m.Stream), modeCode(m.Mode))
}

func (m *reqSetStreamMode) decodeFrom(d *decoder) {
	m.Stream = d.str("stream name")
	m.Mode = d.mode("mode")
}

// reqSubscribe: position | u32 initial credit (bytes).
type reqSubscribe struct {
	Pos    api.Position
	Credit uint32
}

func (m *reqSubscribe) appendTo(b []byte) []byte {
	return appendU32(appendPosition(b, m.Pos), m.Credit)
}

func (m *reqSubscribe) decodeFrom(d *decoder) {
	m.Pos = d.position("position")
	m.Credit = d.u32("credit")
}

// reqCredit: u32 bytes granted.
type reqCredit struct{ Bytes uint32 }

func (m *reqCredit) appendTo(b []byte) []byte { return appendU32(b, m.Bytes) }
func (m *reqCredit) decodeFrom(d *decoder)    { m.Bytes = d.u32("credit") }

// Responses.

// respStreamInfo is the response of CreateStream and DescribeStream.
type respStreamInfo struct{ Info *api.StreamInfo }

func (m *respStreamInfo) appendTo(b []byte) []byte { return appendStreamInfo(b, m.Info) }
func (m *respStreamInfo) decodeFrom(d *decoder)    { m.Info = d.streamInfo() }

// respNames is the response of ListStreams: u32 count | str × count.
type respNames struct{ Names []string }

func (m *respNames) appendTo(b []byte) []byte { return appendStrList(b, m.Names, true) }
func (m *respNames) decodeFrom(d *decoder)    { m.Names = d.strList("stream names", true) }

// respShards is the response of ListShards: u32 count | shard × count.
type respShards struct{ Shards []api.ShardInfo }

func (m *respShards) appendTo(b []byte) []byte {
	b = appendU32(b, uint32(len(m.Shards)))
	for i := range m.Shards {
		b = appendShard(b, &m.Shards[i])
	}
	return b
}

func (m *respShards) decodeFrom(d *decoder) { m.Shards = d.shards("shards") }

// respTags is the response of ListTags.
type respTags struct{ Tags map[string]string }

func (m *respTags) appendTo(b []byte) []byte { return appendTags(b, m.Tags) }
func (m *respTags) decodeFrom(d *decoder)    { m.Tags = d.tags("tags") }

// respSeq is the response of PutRecord: the record's sequence number.
type respSeq struct{ Seq api.SeqNum }

func (m *respSeq) appendTo(b []byte) []byte { return appendSeqNum(b, m.Seq) }
func (m *respSeq) decodeFrom(d *decoder)    { m.Seq = d.seqNum("sequence number") }

// respPosition is the response of GetIterator.
type respPosition struct{ Pos api.Position }

func (m *respPosition) appendTo(b []byte) []byte { return appendPosition(b, m.Pos) }
func (m *respPosition) decodeFrom(d *decoder)    { m.Pos = d.position("position") }

// Per-record status codes in a PutRecords response.
const (
	putOK     uint8 = 0 // seqnum follows
	putFailed uint8 = 1 // str error name | str message follow
)

// respPutRecords: u16 count | u16 failed | count × (u8 status | seqnum, or
// str error name | str message). Result i is the outcome of record i.
type respPutRecords struct {
	Failed  int
	Results []api.PutResult
}

// appendPutResult appends the outcome of one record.
func appendPutResult(b []byte, r *api.PutResult) []byte {
	if r.Err == nil {
		return appendSeqNum(appendU8(b, putOK), r.Seq)
	}
	e := wireError(r.Err)
	return appendError(appendU8(b, putFailed), e.Name, e.Message)
}

func (m *respPutRecords) appendTo(b []byte) []byte {
	b = appendU16(b, uint16(len(m.Results)))
	b = appendU16(b, uint16(m.Failed))
	for i := range m.Results {
		b = appendPutResult(b, &m.Results[i])
	}
	return b
}

func (m *respPutRecords) decodeFrom(d *decoder) {
	n := d.count("record count", false, 1+4)
	m.Failed = int(d.u16("failed count"))
	if cap(m.Results) < n {
		m.Results = make([]api.PutResult, n)
	}
	m.Results = m.Results[:n]
	failed := 0
	for i := 0; i < n && d.err == nil; i++ {
		r := &m.Results[i]
		*r = api.PutResult{}
		switch st := d.u8("record status"); st {
		case putOK:
			r.Seq = d.seqNum("sequence number")
			r.ShardID = shardIDString(r.Seq.Shard)
		case putFailed:
			name := d.str("error name")
			msg := d.str("error message")
			r.Err = newError(name, msg)
			failed++
		default:
			d.off--
			d.invalid("record status", "status %d is not 0 (stored) or 1 (failed)", st)
		}
	}
	if d.err == nil && failed != m.Failed {
		d.invalid("failed count", "says %d records failed but %d carry an error", m.Failed, failed)
	}
}

// resultFlagShardEnd marks a read result or event at the end of a closed
// shard; its children follow in the result.
const resultFlagShardEnd uint8 = 1 << 0

// resultHead is a read result or subscription event before its frames:
// position next | i64 millis behind | u8 flags | u16 child count | shard ×
// count | u32 record count | u32 frames length. The frames (segment format)
// follow it and end the body.
type resultHead struct {
	Next         api.Position
	MillisBehind int64
	ShardEnd     bool
	Children     []api.ShardInfo
	Records      uint32
	FramesLen    uint32
}

func (m *resultHead) appendTo(b []byte) []byte {
	b = appendPosition(b, m.Next)
	b = appendI64(b, m.MillisBehind)
	var flags uint8
	if m.ShardEnd {
		flags |= resultFlagShardEnd
	}
	b = appendU8(b, flags)
	b = appendU16(b, uint16(len(m.Children)))
	for i := range m.Children {
		b = appendShard(b, &m.Children[i])
	}
	b = appendU32(b, m.Records)
	return appendU32(b, m.FramesLen)
}

func (m *resultHead) decodeFrom(d *decoder) {
	m.Next = d.position("next position")
	m.MillisBehind = d.i64("millis behind")
	flags := d.u8("result flags")
	if flags&^resultFlagShardEnd != 0 {
		d.off--
		d.invalid("result flags", "unknown flag bits %#02x", flags&^resultFlagShardEnd)
	}
	m.ShardEnd = flags&resultFlagShardEnd != 0
	n := d.count("child count", false, shardSize)
	m.Children = m.Children[:0]
	for i := 0; i < n && d.err == nil; i++ {
		m.Children = append(m.Children, d.shard("child shard"))
	}
	m.Records = d.u32("record count")
	m.FramesLen = d.u32("frames length")
	if d.err == nil && uint64(m.FramesLen) != uint64(len(d.b)-d.off) {
		d.invalid("frames length", "says %d bytes of frames but %d bytes are left", m.FramesLen, len(d.b)-d.off)
	}
}

// decodeResult decodes a read result or event body: the head, and the
// frames that end it (aliasing body).
func decodeResult(body []byte, h *resultHead) ([]byte, error) {
	d := newDecoder(body)
	h.decodeFrom(&d)
	if d.err != nil {
		return nil, d.err
	}
	return body[d.off:], nil
}

// goAway is the body of an OpGoAway frame and of an error response.
type goAway struct{ Name, Message string }

func (m *goAway) appendTo(b []byte) []byte { return appendError(b, m.Name, m.Message) }

func (m *goAway) decodeFrom(d *decoder) {
	m.Name = d.str("error name")
	m.Message = d.str("error message")
}
