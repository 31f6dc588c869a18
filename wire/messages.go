package wire

import (
	"math"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// Message is the body of one request or response. AppendTo encodes it;
// DecodeFrom decodes it, reusing the Message's slices where it can, and
// records the first failure in the decoder.
type Message interface {
	AppendTo(b []byte) []byte
	DecodeFrom(d *Decoder)
}

// DecodeMessage decodes body into m and checks that nothing is left over.
func DecodeMessage(body []byte, m Message) error {
	d := NewDecoder(body)
	m.DecodeFrom(&d)
	return d.Finish()
}

// Requests.

// ReqStream names a stream: DescribeStream, ListShards, ListTags.
type ReqStream struct{ Stream string }

func (m *ReqStream) AppendTo(b []byte) []byte { return AppendStr(b, m.Stream) }
func (m *ReqStream) DecodeFrom(d *Decoder)    { m.Stream = d.str("stream name") }

// ReqEmpty has no body: ListStreams, Cancel, and the responses of operations
// that return nothing.
type ReqEmpty struct{}

func (*ReqEmpty) AppendTo(b []byte) []byte { return b }
func (*ReqEmpty) DecodeFrom(*Decoder)      {}

// ReqCreateStream: str name | u32 shard count | u8 mode | u32 max record size
// | u32 retention hours | u8 durability | optional quotas | tags.
type ReqCreateStream struct{ In api.CreateStreamInput }

func (m *ReqCreateStream) AppendTo(b []byte) []byte {
	in := &m.In
	b = AppendStr(b, in.Name)
	b = AppendU32(b, uint32(in.ShardCount))
	b = AppendU8(b, ModeCode(in.Mode))
	b = AppendU32(b, uint32(in.MaxRecordSize))
	b = AppendU32(b, uint32(in.RetentionHours))
	b = AppendU8(b, uint8(in.Durability))
	b = appendOptQuotas(b, in.Quotas)
	return appendTags(b, in.Tags)
}

func (m *ReqCreateStream) DecodeFrom(d *Decoder) {
	in := &m.In
	in.Name = d.str("stream name")
	in.ShardCount = int(d.U32("shard count"))
	in.Mode = d.mode("mode")
	in.MaxRecordSize = int(d.U32("max record size"))
	in.RetentionHours = int(d.U32("retention hours"))
	in.Durability = d.durability("durability")
	in.Quotas = d.optQuotas("quotas")
	in.Tags = d.tags("tags")
}

// Record flags in put requests.
const (
	recExplicitHash uint8 = 1 << 0 // an explicit hash key follows the flags
	recKnownFlags         = recExplicitHash
)

// AppendRecord: u8 flags | [hash] | bytes16 key | bytes32 data.
func AppendRecord(b []byte, r *api.PutRecord) []byte {
	if r.HasExplicitHash {
		b = AppendU8(b, recExplicitHash)
		b = appendHash(b, r.ExplicitHash)
	} else {
		b = AppendU8(b, 0)
	}
	b = appendBytes16(b, r.Key)
	return appendBytes32(b, r.Data)
}

// RecordSize is the encoded size of r in a put request.
func RecordSize(key, data []byte, explicit bool) int {
	n := 1 + 2 + len(key) + 4 + len(data)
	if explicit {
		n += HashSize
	}
	return n
}

func (d *Decoder) record(r *api.PutRecord) {
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

// ReqPutRecord: str stream | str sequence number for ordering (decimal, may
// be empty) | record. Stream and SeqForOrdering alias the body on decode.
type ReqPutRecord struct {
	Stream         []byte
	SeqForOrdering []byte
	Rec            api.PutRecord
}

func (m *ReqPutRecord) AppendTo(b []byte) []byte {
	b = appendBytes16(b, m.Stream)
	b = appendBytes16(b, m.SeqForOrdering)
	return AppendRecord(b, &m.Rec)
}

func (m *ReqPutRecord) DecodeFrom(d *Decoder) {
	m.Stream = d.StrBytes("stream name")
	m.SeqForOrdering = d.StrBytes("sequence number for ordering")
	d.record(&m.Rec)
}

// ReqPutRecords: str stream | u16 count | record × count. Records alias the
// body on decode; Recs is reused.
type ReqPutRecords struct {
	Stream []byte
	Recs   []api.PutRecord
}

func (m *ReqPutRecords) AppendTo(b []byte) []byte {
	return AppendPutRecords(appendBytes16(b, m.Stream), m.Recs)
}

// AppendPutRecords appends the part of a PutRecords body after the stream
// name: the count and the records.
func AppendPutRecords(b []byte, recs []api.PutRecord) []byte {
	b = AppendU16(b, uint16(len(recs)))
	for i := range recs {
		b = AppendRecord(b, &recs[i])
	}
	return b
}

// minRecordSize is the smallest encoded record: flags, empty key, empty data.
const minRecordSize = 1 + 2 + 4

func (m *ReqPutRecords) DecodeFrom(d *Decoder) {
	m.Stream = d.StrBytes("stream name")
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

// ReqGetIterator: str stream | u32 shard | u8 type | seqnum | time.
type ReqGetIterator struct {
	Stream    string
	Shard     uint32
	Type      api.IteratorType
	Seq       api.SeqNum // AT_ and AFTER_SEQUENCE_NUMBER
	Timestamp time.Time  // AT_TIMESTAMP
}

func (m *ReqGetIterator) AppendTo(b []byte) []byte {
	b = AppendStr(b, m.Stream)
	b = AppendU32(b, m.Shard)
	b = AppendU8(b, IterCode(m.Type))
	b = AppendSeqNum(b, m.Seq)
	return AppendTime(b, m.Timestamp)
}

func (m *ReqGetIterator) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	m.Shard = d.U32("shard")
	m.Type = d.iterType("iterator type")
	m.Seq = d.SeqNum("sequence number")
	m.Timestamp = d.time("timestamp")
}

// ReqRead: position | u32 max records | u32 max bytes.
type ReqRead struct {
	Pos                  api.Position
	MaxRecords, MaxBytes uint32
}

func (m *ReqRead) AppendTo(b []byte) []byte {
	b = appendPosition(b, m.Pos)
	b = AppendU32(b, m.MaxRecords)
	return AppendU32(b, m.MaxBytes)
}

func (m *ReqRead) DecodeFrom(d *Decoder) {
	m.Pos = d.position("position")
	m.MaxRecords = d.U32("max records")
	m.MaxBytes = d.U32("max bytes")
}

// ReqSplitShard: str stream | u32 shard | hash new starting hash key.
type ReqSplitShard struct {
	Stream   string
	Shard    uint32
	NewStart api.HashKey
}

func (m *ReqSplitShard) AppendTo(b []byte) []byte {
	return appendHash(AppendU32(AppendStr(b, m.Stream), m.Shard), m.NewStart)
}

func (m *ReqSplitShard) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	m.Shard = d.U32("shard")
	m.NewStart = d.hash("new starting hash key")
}

// ReqMergeShards: str stream | u32 shard | u32 adjacent shard.
type ReqMergeShards struct {
	Stream          string
	Shard, Adjacent uint32
}

func (m *ReqMergeShards) AppendTo(b []byte) []byte {
	return AppendU32(AppendU32(AppendStr(b, m.Stream), m.Shard), m.Adjacent)
}

func (m *ReqMergeShards) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	m.Shard = d.U32("shard")
	m.Adjacent = d.U32("adjacent shard")
}

// StreamValue is a request that names a stream and carries one value: str
// stream | value. The value's encoding, and its name in decode errors,
// follow from its type (see appendValue and decodeValue).
type StreamValue[V StreamValueType] struct {
	Stream string
	Value  V
}

// StreamValueType lists the types a StreamValue carries.
type StreamValueType interface {
	bool | uint32 | map[string]string | []string | *ratelimit.Limits | api.Durability | api.StreamMode
}

// The StreamValue requests.
type (
	// ReqDeleteStream: str stream | bool enforce consumer deletion.
	ReqDeleteStream = StreamValue[bool]
	// ReqStreamN: str stream | u32 value. UpdateShardCount (target shard
	// count), IncreaseRetention and DecreaseRetention (hours),
	// SetMaxRecordSize (bytes).
	ReqStreamN = StreamValue[uint32]
	// ReqAddTags: str stream | tags.
	ReqAddTags = StreamValue[map[string]string]
	// ReqRemoveTags: str stream | u16 count | str key × count.
	ReqRemoveTags = StreamValue[[]string]
	// ReqSetQuotas: str stream | optional quotas (absent: the server
	// default).
	ReqSetQuotas = StreamValue[*ratelimit.Limits]
	// ReqSetDurability: str stream | u8 durability.
	ReqSetDurability = StreamValue[api.Durability]
	// ReqSetStreamMode: str stream | u8 mode (1 or 2).
	ReqSetStreamMode = StreamValue[api.StreamMode]
)

func (m *StreamValue[V]) AppendTo(b []byte) []byte {
	return appendValue(AppendStr(b, m.Stream), &m.Value)
}

func (m *StreamValue[V]) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	decodeValue(d, &m.Value)
}

// appendValue appends the value of a StreamValue.
func appendValue[V StreamValueType](b []byte, v *V) []byte {
	switch v := any(v).(type) {
	case *bool:
		return appendBool(b, *v)
	case *uint32:
		return AppendU32(b, *v)
	case *map[string]string:
		return appendTags(b, *v)
	case *[]string:
		return appendStrList(b, *v, false)
	case **ratelimit.Limits:
		return appendOptQuotas(b, *v)
	case *api.Durability:
		return AppendU8(b, uint8(*v))
	case *api.StreamMode:
		return AppendU8(b, ModeCode(*v))
	}
	panic("wire: StreamValue of a type StreamValueType does not list")
}

// decodeValue decodes the value of a StreamValue into v. A decode error
// names the value as the one request of its type does (a bool is
// DeleteStream's "enforce consumer deletion"); a new request that reuses a
// type reuses its name.
func decodeValue[V StreamValueType](d *Decoder, v *V) {
	switch v := any(v).(type) {
	case *bool:
		*v = d.boolean("enforce consumer deletion")
	case *uint32:
		*v = d.U32("value")
	case *map[string]string:
		*v = d.tags("tags")
	case *[]string:
		*v = d.strList("tag keys", false)
	case **ratelimit.Limits:
		*v = d.optQuotas("quotas")
	case *api.Durability:
		*v = d.durability("durability")
	case *api.StreamMode:
		*v = d.mode("mode")
	}
}

// ReqSubscribe: position | u32 initial credit (bytes).
type ReqSubscribe struct {
	Pos    api.Position
	Credit uint32
}

func (m *ReqSubscribe) AppendTo(b []byte) []byte {
	return AppendU32(appendPosition(b, m.Pos), m.Credit)
}

func (m *ReqSubscribe) DecodeFrom(d *Decoder) {
	m.Pos = d.position("position")
	m.Credit = d.U32("credit")
}

// ReqCredit: u32 bytes granted.
type ReqCredit struct{ Bytes uint32 }

func (m *ReqCredit) AppendTo(b []byte) []byte { return AppendU32(b, m.Bytes) }
func (m *ReqCredit) DecodeFrom(d *Decoder)    { m.Bytes = d.U32("credit") }

// Responses.

// RespStreamInfo is the response of CreateStream and DescribeStream.
type RespStreamInfo struct{ Info *api.StreamInfo }

func (m *RespStreamInfo) AppendTo(b []byte) []byte { return appendStreamInfo(b, m.Info) }
func (m *RespStreamInfo) DecodeFrom(d *Decoder)    { m.Info = d.streamInfo() }

// RespHotKeys is the response of HotKeys: u16 count | count × (str shard |
// hash key | u32 share in millionths | u64 records/s | u64 bytes/s | time
// since). The keys are of the stream the request names.
type RespHotKeys struct {
	Stream string // not sent: the request's stream, filled in by the caller
	Keys   []api.HotKey
}

// hotKeySize is the least a hot key takes: an empty shard id.
const hotKeySize = 2 + 16 + 4 + 8 + 8 + 8

func (m *RespHotKeys) AppendTo(b []byte) []byte {
	n := min(len(m.Keys), math.MaxUint16)
	b = AppendU16(b, uint16(n))
	for _, k := range m.Keys[:n] {
		b = AppendStr(b, k.Shard)
		b = appendHash(b, k.HashKey)
		b = AppendU32(b, uint32(math.Round(min(max(k.Share, 0), 1)*1e6)))
		b = appendU64(b, uint64(max(k.RecordsPerSec, 0)))
		b = appendU64(b, uint64(max(k.BytesPerSec, 0)))
		b = AppendTime(b, k.Since)
	}
	return b
}

func (m *RespHotKeys) DecodeFrom(d *Decoder) {
	n := d.count("hot keys", false, hotKeySize)
	m.Keys = nil
	for i := 0; i < n && d.err == nil; i++ {
		k := api.HotKey{Stream: m.Stream, Shard: d.str("hot key shard"), HashKey: d.hash("hot key hash")}
		k.Share = float64(d.U32("hot key share")) / 1e6
		k.RecordsPerSec = float64(d.U64("hot key records/s"))
		k.BytesPerSec = float64(d.U64("hot key bytes/s"))
		k.Since = d.time("hot key since")
		m.Keys = append(m.Keys, k)
	}
}

// RespNames is the response of ListStreams: u32 count | str × count.
type RespNames struct{ Names []string }

func (m *RespNames) AppendTo(b []byte) []byte { return appendStrList(b, m.Names, true) }
func (m *RespNames) DecodeFrom(d *Decoder)    { m.Names = d.strList("stream names", true) }

// RespShards is the response of ListShards: u32 count | shard × count.
type RespShards struct{ Shards []api.ShardInfo }

func (m *RespShards) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(m.Shards)))
	for i := range m.Shards {
		b = appendShard(b, &m.Shards[i])
	}
	return b
}

func (m *RespShards) DecodeFrom(d *Decoder) { m.Shards = d.shards("shards") }

// RespTags is the response of ListTags.
type RespTags struct{ Tags map[string]string }

func (m *RespTags) AppendTo(b []byte) []byte { return appendTags(b, m.Tags) }
func (m *RespTags) DecodeFrom(d *Decoder)    { m.Tags = d.tags("tags") }

// RespSeq is the response of PutRecord: the record's sequence number.
type RespSeq struct{ Seq api.SeqNum }

func (m *RespSeq) AppendTo(b []byte) []byte { return AppendSeqNum(b, m.Seq) }
func (m *RespSeq) DecodeFrom(d *Decoder)    { m.Seq = d.SeqNum("sequence number") }

// RespPosition is the response of GetIterator.
type RespPosition struct{ Pos api.Position }

func (m *RespPosition) AppendTo(b []byte) []byte { return appendPosition(b, m.Pos) }
func (m *RespPosition) DecodeFrom(d *Decoder)    { m.Pos = d.position("position") }

// Per-record status codes in a PutRecords response.
const (
	putOK     uint8 = 0 // seqnum follows
	putFailed uint8 = 1 // str error name | str message follow
)

// RespPutRecords: u16 count | u16 failed | count × (u8 status | seqnum, or
// str error name | str message). Result i is the outcome of record i.
type RespPutRecords struct {
	Failed  int
	Results []api.PutResult
}

// AppendPutResult appends the outcome of one record.
func AppendPutResult(b []byte, r *api.PutResult) []byte {
	if r.Err == nil {
		return AppendSeqNum(AppendU8(b, putOK), r.Seq)
	}
	e := ErrorOf(r.Err)
	return AppendErrorBody(AppendU8(b, putFailed), e.Name, e.Message)
}

func (m *RespPutRecords) AppendTo(b []byte) []byte {
	b = AppendU16(b, uint16(len(m.Results)))
	b = AppendU16(b, uint16(m.Failed))
	for i := range m.Results {
		b = AppendPutResult(b, &m.Results[i])
	}
	return b
}

func (m *RespPutRecords) DecodeFrom(d *Decoder) {
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
			r.Seq = d.SeqNum("sequence number")
			r.ShardID = shardIDString(r.Seq.Shard)
		case putFailed:
			name := d.str("error name")
			msg := d.str("error message")
			r.Err = NewError(name, msg)
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

// ResultHead is a read result or subscription event before its frames:
// position next | i64 millis behind | u8 flags | u16 child count | shard ×
// count | u32 record count | u32 frames length. The frames (package record's format)
// follow it and end the body.
type ResultHead struct {
	Next         api.Position
	MillisBehind int64
	ShardEnd     bool
	Children     []api.ShardInfo
	Records      uint32
	FramesLen    uint32
}

func (m *ResultHead) AppendTo(b []byte) []byte {
	b = appendPosition(b, m.Next)
	b = appendI64(b, m.MillisBehind)
	var flags uint8
	if m.ShardEnd {
		flags |= resultFlagShardEnd
	}
	b = AppendU8(b, flags)
	b = AppendU16(b, uint16(len(m.Children)))
	for i := range m.Children {
		b = appendShard(b, &m.Children[i])
	}
	b = AppendU32(b, m.Records)
	return AppendU32(b, m.FramesLen)
}

func (m *ResultHead) DecodeFrom(d *Decoder) {
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
	m.Records = d.U32("record count")
	m.FramesLen = d.U32("frames length")
	if d.err == nil && uint64(m.FramesLen) != uint64(len(d.b)-d.off) {
		d.invalid("frames length", "says %d bytes of frames but %d bytes are left", m.FramesLen, len(d.b)-d.off)
	}
}

// DecodeResult decodes a read result or event body: the head, and the
// frames that end it (aliasing body).
func DecodeResult(body []byte, h *ResultHead) ([]byte, error) {
	d := NewDecoder(body)
	h.DecodeFrom(&d)
	if d.err != nil {
		return nil, d.err
	}
	return body[d.off:], nil
}

// GoAway is the body of an OpGoAway frame and of an error response.
type GoAway struct{ Name, Message string }

func (m *GoAway) AppendTo(b []byte) []byte { return AppendErrorBody(b, m.Name, m.Message) }

func (m *GoAway) DecodeFrom(d *Decoder) {
	m.Name = d.str("error name")
	m.Message = d.str("error message")
}
