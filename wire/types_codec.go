package wire

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// Encodings of the composite types shared by several messages (see
// docs/protocol.md, "Composite types").

// Sizes of the fixed-size composites, for bounds checks before allocating.
const (
	HashSize   = 16
	SeqNumSize = 4 + 4 + 8
	quotasSize = 5 * 8
	// shardSize: index, parent, adjacent parent, hash start, hash end,
	// starting and ending sequence numbers, closed, created, first, next.
	shardSize = 4 + 4 + 4 + HashSize + HashSize + SeqNumSize + SeqNumSize + 1 + 8 + 8 + 8
	// noShard is the parent index of a shard without that parent.
	noShard = math.MaxUint32
)

// Stream mode codes.
const (
	ModeDefault     uint8 = 0
	modeProvisioned uint8 = 1
	modeOnDemand    uint8 = 2
)

// Iterator type codes.
const (
	iterAtSequence    uint8 = 1
	iterAfterSequence uint8 = 2
	iterTrimHorizon   uint8 = 3
	iterLatest        uint8 = 4
	iterAtTimestamp   uint8 = 5
)

// modes, iterTypes and durabilities map each wire code (the index) to its
// value. A durability's code is its api value.
var (
	modes = [...]api.StreamMode{ModeDefault: "", modeProvisioned: api.Provisioned, modeOnDemand: api.OnDemand}

	durabilities = [...]api.Durability{api.DurabilityDefault, api.Always, api.Interval, api.None}

	iterTypes = [...]api.IteratorType{iterAtSequence: api.AtSequenceNumber, iterAfterSequence: api.AfterSequenceNumber,
		iterTrimHorizon: api.TrimHorizon, iterLatest: api.Latest, iterAtTimestamp: api.AtTimestamp}
)

// ModeCode is the wire code of a stream mode; ModeDefault for the empty
// mode or one the protocol does not know.
func ModeCode(m api.StreamMode) uint8 { return enumCode(modes[:], m) }

// IterCode is the wire code of an iterator type; 0 for one the protocol
// does not know.
func IterCode(t api.IteratorType) uint8 { return enumCode(iterTypes[:], t) }

func (d *Decoder) mode(field string) api.StreamMode {
	return decodeEnum(d, field, modes[:], ModeDefault,
		"stream mode %d is not 0 (default), 1 (PROVISIONED) or 2 (ON_DEMAND)")
}

func (d *Decoder) iterType(field string) api.IteratorType {
	return decodeEnum(d, field, iterTypes[:], iterAtSequence,
		"iterator type %d is not one of 1 (AT_SEQUENCE_NUMBER) to 5 (AT_TIMESTAMP)")
}

func (d *Decoder) durability(field string) api.Durability {
	return decodeEnum(d, field, durabilities[:], 0,
		"durability %d is not 0 (server default), 1 (always), 2 (interval) or 3 (none)")
}

// enumCode is the index of v in codes, or 0 if v is not there.
func enumCode[T comparable](codes []T, v T) uint8 {
	return uint8(max(0, slices.Index(codes, v)))
}

// decodeEnum decodes a u8 code that indexes codes, from code first on;
// another code is invalid, described by format (given the code).
func decodeEnum[T any](d *Decoder, field string, codes []T, first uint8, format string) T {
	c := d.u8(field)
	if c < first || int(c) >= len(codes) {
		d.off--
		d.invalid(field, format, c)
		var zero T
		return zero
	}
	return codes[c]
}

func appendHash(b []byte, h api.HashKey) []byte {
	b = binary.BigEndian.AppendUint64(b, h.Hi)
	return binary.BigEndian.AppendUint64(b, h.Lo)
}

func (d *Decoder) hash(field string) api.HashKey {
	v := d.take(field, HashSize)
	if v == nil {
		return api.HashKey{}
	}
	return api.HashKey{Hi: binary.BigEndian.Uint64(v), Lo: binary.BigEndian.Uint64(v[8:])}
}

func AppendSeqNum(b []byte, s api.SeqNum) []byte {
	b = AppendU32(b, s.Incarnation)
	b = AppendU32(b, s.Shard)
	return appendU64(b, s.Seq)
}

func (d *Decoder) SeqNum(field string) api.SeqNum {
	v := d.take(field, SeqNumSize)
	if v == nil {
		return api.SeqNum{}
	}
	return api.SeqNum{
		Incarnation: binary.LittleEndian.Uint32(v),
		Shard:       binary.LittleEndian.Uint32(v[4:]),
		Seq:         binary.LittleEndian.Uint64(v[8:]),
	}
}

// appendPosition: str stream | u32 incarnation | u32 shard | u64 seq.
func appendPosition(b []byte, p api.Position) []byte {
	b = AppendStr(b, p.Stream)
	b = AppendU32(b, p.Incarnation)
	b = AppendU32(b, uint32(p.Shard))
	return appendU64(b, p.Seq)
}

func (d *Decoder) position(field string) api.Position {
	var p api.Position
	p.Stream = d.str(field)
	p.Incarnation = d.U32(field)
	p.Shard = int(d.U32(field))
	p.Seq = d.U64(field)
	return p
}

func appendQuotas(b []byte, q ratelimit.Limits) []byte {
	b = appendU64(b, uint64(q.WriteBytesPerSec))
	b = appendU64(b, uint64(q.WriteRecordsPerSec))
	b = appendU64(b, uint64(q.ReadBytesPerSec))
	b = appendU64(b, uint64(q.ReadCallsPerSec))
	return appendU64(b, uint64(q.ConsumerBytesPerSec))
}

func (d *Decoder) quotas(field string) ratelimit.Limits {
	var q ratelimit.Limits
	for _, p := range []*int64{&q.WriteBytesPerSec, &q.WriteRecordsPerSec, &q.ReadBytesPerSec, &q.ReadCallsPerSec, &q.ConsumerBytesPerSec} {
		v := d.U64(field)
		if v > math.MaxInt64 {
			d.off -= 8
			d.invalid(field, "rate %d is above 2^63-1", v)
			return q
		}
		*p = int64(v)
	}
	return q
}

// appendOptQuotas: bool present | [quotas].
func appendOptQuotas(b []byte, q *ratelimit.Limits) []byte {
	if q == nil {
		return appendBool(b, false)
	}
	b = appendBool(b, true)
	return appendQuotas(b, *q)
}

func (d *Decoder) optQuotas(field string) *ratelimit.Limits {
	if !d.boolean(field) {
		return nil
	}
	q := d.quotas(field)
	return &q
}

// appendTags: u16 count | (str key | str value) × count, keys in sorted
// order so that the encoding of a map is deterministic.
func appendTags(b []byte, tags map[string]string) []byte {
	b = AppendU16(b, uint16(min(len(tags), math.MaxUint16)))
	for _, k := range sortedKeys(tags) {
		b = AppendStr(b, k)
		b = AppendStr(b, tags[k])
	}
	return b
}

func (d *Decoder) tags(field string) map[string]string {
	n := d.count(field, false, 4)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str(field)
		m[k] = d.str(field)
	}
	return m
}

// appendStrList: u16 count | str × count (wide: u32 count).
func appendStrList(b []byte, l []string, wide bool) []byte {
	if wide {
		b = AppendU32(b, uint32(len(l)))
	} else {
		b = AppendU16(b, uint16(min(len(l), math.MaxUint16)))
		l = l[:min(len(l), math.MaxUint16)]
	}
	for _, s := range l {
		b = AppendStr(b, s)
	}
	return b
}

func (d *Decoder) strList(field string, wide bool) []string {
	n := d.count(field, wide, 2)
	if n == 0 {
		return nil
	}
	l := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		l = append(l, d.str(field))
	}
	return l
}

// appendShard writes a ShardInfo (shardSize bytes).
func appendShard(b []byte, s *api.ShardInfo) []byte {
	b = AppendU32(b, uint32(s.Index))
	b = AppendU32(b, shardRef(s.Parent))
	b = AppendU32(b, shardRef(s.AdjacentParent))
	b = appendHash(b, s.HashStart)
	b = appendHash(b, s.HashEnd)
	b = AppendSeqNum(b, s.StartingSeq)
	b = AppendSeqNum(b, s.EndingSeq)
	b = appendBool(b, s.Closed)
	b = AppendTime(b, s.Created)
	b = appendU64(b, s.FirstSeq)
	return appendU64(b, s.NextSeq)
}

// shardRef is the wire form of a parent shard id: its index, or noShard.
func shardRef(id string) uint32 {
	if id == "" {
		return noShard
	}
	i, err := api.ParseShardID(id)
	if err != nil || i < 0 || i >= noShard {
		return noShard
	}
	return uint32(i)
}

func shardName(ref uint32) string {
	if ref == noShard {
		return ""
	}
	return api.ShardID(int(ref))
}

func (d *Decoder) shard(field string) api.ShardInfo {
	var s api.ShardInfo
	idx := d.U32(field)
	if idx == noShard && d.err == nil {
		d.off -= 4
		d.invalid(field, "shard index %d is reserved for \"no shard\"", idx)
	}
	s.Index = int(idx)
	s.ID = api.ShardID(s.Index)
	s.Parent = shardName(d.U32(field))
	s.AdjacentParent = shardName(d.U32(field))
	s.HashStart = d.hash(field)
	s.HashEnd = d.hash(field)
	s.StartingSeq = d.SeqNum(field)
	s.EndingSeq = d.SeqNum(field)
	s.Closed = d.boolean(field)
	s.Created = d.time(field)
	s.FirstSeq = d.U64(field)
	s.NextSeq = d.U64(field)
	return s
}

func (d *Decoder) shards(field string) []api.ShardInfo {
	n := d.count(field, true, shardSize)
	if n == 0 {
		return nil
	}
	out := make([]api.ShardInfo, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.shard(field))
	}
	return out
}

// appendStreamInfo writes a stream description.
func appendStreamInfo(b []byte, s *api.StreamInfo) []byte {
	b = AppendStr(b, s.Name)
	b = AppendU32(b, s.Incarnation)
	b = AppendStr(b, string(s.Status))
	b = AppendU8(b, ModeCode(s.Mode))
	b = AppendTime(b, s.Created)
	b = AppendU32(b, uint32(s.RetentionHours))
	b = AppendU32(b, uint32(s.MaxRecordSize))
	b = AppendU8(b, uint8(s.Durability))
	b = appendQuotas(b, s.Quotas)
	b = appendTags(b, s.Tags)
	b = AppendStr(b, s.EncryptionType)
	b = AppendStr(b, s.KeyID)
	b = appendStrList(b, s.Monitoring, false)
	b = AppendU32(b, uint32(len(s.Shards)))
	for i := range s.Shards {
		b = appendShard(b, &s.Shards[i])
	}
	b = AppendU16(b, uint16(min(len(s.Consumers), math.MaxUint16)))
	for i := range s.Consumers[:min(len(s.Consumers), math.MaxUint16)] {
		c := &s.Consumers[i]
		b = AppendStr(b, c.Name)
		b = AppendStr(b, c.Status)
		b = AppendTime(b, c.Created)
	}
	return b
}

func (d *Decoder) streamInfo() *api.StreamInfo {
	s := &api.StreamInfo{}
	s.Name = d.str("stream name")
	s.Incarnation = d.U32("incarnation")
	s.Status = api.StreamStatus(d.str("status"))
	s.Mode = d.mode("mode")
	s.Created = d.time("created")
	s.RetentionHours = int(d.U32("retention hours"))
	s.MaxRecordSize = int(d.U32("max record size"))
	s.Durability = d.durability("durability")
	s.Quotas = d.quotas("quotas")
	s.Tags = d.tags("tags")
	s.EncryptionType = d.str("encryption type")
	s.KeyID = d.str("key id")
	s.Monitoring = d.strList("monitoring", false)
	s.Shards = d.shards("shards")
	n := d.count("consumers", false, 2+2+8)
	for i := 0; i < n && d.err == nil; i++ {
		var c api.ConsumerInfo
		c.Name = d.str("consumer name")
		c.Status = d.str("consumer status")
		c.Created = d.time("consumer created")
		s.Consumers = append(s.Consumers, c)
	}
	return s
}

// AppendErrorBody writes an error body: str name | str message.
func AppendErrorBody(b []byte, name, msg string) []byte {
	b = AppendStr(b, name)
	return AppendStr(b, msg)
}

func DecodeErrorBody(body []byte) (*Error, error) {
	d := NewDecoder(body)
	name := d.str("error name")
	msg := d.str("error message")
	e := NewError(name, msg)
	if name == NameNotLeader && d.err == nil && d.off < len(d.b) {
		e.Leader = d.U64("leader")
		e.LeaderAddr = d.str("leader address")
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return e, nil
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
