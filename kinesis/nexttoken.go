package kinesis

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// NextToken layout. A NextToken of ListShards, ListStreams or
// ListStreamConsumers is the standard base64 of
//
//	| version u8 = 1 | kind u8 | issued epoch ms u64 | incarnation u32 |
//	| filter type u8 | filter timestamp epoch ms u64 |
//	| stream u8-prefixed | after u8-prefixed | filter shard id u8-prefixed | tag 16 B |
//
// where after is the last shard id, stream name or consumer name the page
// returned and tag is HMAC-SHA256 under a key derived from the iterator key,
// truncated to 128 bits. A token is good for NextTokenTTL (300 s, as on AWS).
// These constants are part of the format and must not change.
const (
	pageTokenVersion  byte = 1
	pageTokenTagLen        = 16
	pageTokenFixedLen      = 1 + 1 + 8 + 4 + 1 + 8
	// NextTokenTTL is how long a NextToken stays valid, as on AWS.
	NextTokenTTL = 300 * time.Second
)

// pageTokenMaxLen is the length of the longest token body: three fields of
// at most 255 bytes.
const pageTokenMaxLen = pageTokenFixedLen + 3*(1+255) + pageTokenTagLen

// pageKind says which operation issued a token; a token of one cannot page another.
type pageKind byte

const (
	pageListShards pageKind = iota + 1
	pageListStreams
	pageListConsumers
)

// shardFilterCodes number the ShardFilter types inside tokens (0: no filter).
var shardFilterCodes = []ShardFilterType{
	"", ShardFilterTypeAfterShardId, ShardFilterTypeAtTrimHorizon, ShardFilterTypeFromTrimHorizon,
	ShardFilterTypeAtLatest, ShardFilterTypeAtTimestamp, ShardFilterTypeFromTimestamp,
}

// pageToken is the state a NextToken carries.
type pageToken struct {
	kind        pageKind
	issued      time.Time
	stream      string
	incarnation uint32
	after       string
	filter      ShardFilter
}

// pageTokenCodec issues and checks NextTokens.
type pageTokenCodec struct {
	key []byte
	now func() time.Time
	ttl time.Duration
}

func newPageTokenCodec(iteratorKey []byte, now func() time.Time, ttl time.Duration) *pageTokenCodec {
	// A key of its own, so that no NextToken is ever a valid shard iterator
	// or the other way round, whatever their layouts.
	mac := hmac.New(sha256.New, iteratorKey)
	mac.Write([]byte("sluice kinesis NextToken"))
	if ttl <= 0 {
		ttl = NextTokenTTL
	}
	return &pageTokenCodec{key: mac.Sum(nil), now: now, ttl: ttl}
}

func (c *pageTokenCodec) tag(msg []byte) []byte {
	mac := hmac.New(sha256.New, c.key)
	mac.Write(msg)
	return mac.Sum(nil)[:pageTokenTagLen]
}

// encode returns the token for t, stamped with the current time.
func (c *pageTokenCodec) encode(t pageToken) string {
	b := make([]byte, 0, pageTokenFixedLen+3+len(t.stream)+len(t.after)+len(t.filter.ShardId)+pageTokenTagLen)
	b = append(b, pageTokenVersion, byte(t.kind))
	b = binary.BigEndian.AppendUint64(b, uint64(c.now().UnixMilli()))
	b = binary.BigEndian.AppendUint32(b, t.incarnation)
	code := byte(0)
	for i, ft := range shardFilterCodes {
		if ft == t.filter.Type {
			code = byte(i)
		}
	}
	b = append(b, code)
	b = binary.BigEndian.AppendUint64(b, uint64(t.filter.Timestamp.Millis()))
	for _, s := range [...]string{t.stream, t.after, t.filter.ShardId} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	b = append(b, c.tag(b)...)
	return base64.StdEncoding.EncodeToString(b)
}

// decode checks a token issued for kind and returns its state: an
// InvalidArgumentException for anything this codec did not issue for that
// operation, an ExpiredNextTokenException for a genuine token past its TTL.
func (c *pageTokenCodec) decode(token string, kind pageKind) (pageToken, error) {
	invalid := Errorf(CodeInvalidArgument, "NextToken is not valid: it was not issued by %s of this server; list again without it", kind)
	if len(token) > base64.StdEncoding.EncodedLen(pageTokenMaxLen) {
		return pageToken{}, invalid // longer than any token issued: not decoded
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil || len(raw) < pageTokenFixedLen+3+pageTokenTagLen {
		return pageToken{}, invalid
	}
	body, tag := raw[:len(raw)-pageTokenTagLen], raw[len(raw)-pageTokenTagLen:]
	if !hmac.Equal(c.tag(body), tag) || body[0] != pageTokenVersion || pageKind(body[1]) != kind {
		return pageToken{}, invalid
	}
	issued := time.UnixMilli(int64(binary.BigEndian.Uint64(body[2:10]))).UTC()
	t := pageToken{kind: kind, issued: issued, incarnation: binary.BigEndian.Uint32(body[10:14])}
	code := int(body[14])
	if code >= len(shardFilterCodes) {
		return pageToken{}, invalid
	}
	t.filter.Type = shardFilterCodes[code]
	if ms := int64(binary.BigEndian.Uint64(body[15:23])); t.filter.Type == ShardFilterTypeAtTimestamp || t.filter.Type == ShardFilterTypeFromTimestamp {
		t.filter.Timestamp = TimestampFromMillis(ms)
	}
	rest := body[pageTokenFixedLen:]
	var fields [3]string
	for i := range fields {
		if len(rest) < 1 || len(rest)-1 < int(rest[0]) {
			return pageToken{}, invalid
		}
		n := int(rest[0])
		fields[i] = string(rest[1 : 1+n])
		rest = rest[1+n:]
	}
	if len(rest) != 0 {
		return pageToken{}, invalid
	}
	t.stream, t.after, t.filter.ShardId = fields[0], fields[1], fields[2]
	if now := c.now(); now.Sub(issued) > c.ttl {
		return pageToken{}, Errorf(CodeExpiredNextToken,
			"NextToken expired: it was issued at %s and is valid for %d seconds; list again without it",
			issued.Format(time.RFC3339), int64(c.ttl/time.Second))
	}
	return t, nil
}

// String names the operation that issues tokens of kind k.
func (k pageKind) String() string {
	switch k {
	case pageListShards:
		return "ListShards"
	case pageListStreams:
		return "ListStreams"
	}
	return "ListStreamConsumers"
}
