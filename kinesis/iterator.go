package kinesis

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// Shard iterator token layout (see doc.go). These constants are part of the
// format and must not change; a change is a new iteratorVersion.
const (
	iteratorVersion     byte = 2
	iteratorTagLen           = 16 // HMAC-SHA256 truncated to 128 bits
	iteratorFixedLen         = 1 + 8 + 4 + 8 + 8 + 1 + 1 + iteratorTagLen
	iteratorMaxName          = 128 // stream names and shard ids are 1..128 characters
	iteratorMaxRawLen        = iteratorFixedLen + 2*iteratorMaxName
	iteratorMaxTokenLen      = 512 // the ShardIterator limit of the Kinesis API
	// IteratorTTL is how long a shard iterator stays valid, as on AWS.
	IteratorTTL = 5 * time.Minute
)

// The whole token must fit the API's 512 characters once base64-encoded.
var _ = [iteratorMaxTokenLen - (iteratorMaxRawLen+2)/3*4]struct{}{}

// strictBase64 rejects non-canonical padding bits, so a token has one spelling.
var strictBase64 = base64.StdEncoding.Strict()

// IteratorPosition is what a shard iterator carries: where in which shard of
// which incarnation of a stream the next GetRecords reads.
type IteratorPosition struct {
	// StreamName and ShardID name the shard (each 1..128 bytes).
	StreamName string
	ShardID    string
	// Incarnation identifies the stream's lifetime, so that an iterator of a
	// deleted stream never resolves against a re-created one.
	Incarnation uint64
	// Sequence is the internal sequence number of the next record to read.
	Sequence uint64
	// Issued is when the iterator was issued (millisecond precision). Encode
	// ignores it and stamps the codec's current time; Decode fills it in.
	Issued time.Time
}

// IteratorOptions configure an IteratorCodec.
type IteratorOptions struct {
	// Key is the HMAC-SHA256 key that makes tokens tamper-evident: at least
	// 16 bytes, secret, and the same across restarts if iterators should
	// survive one (NewIteratorKey makes one). Required.
	Key []byte
	// Now is the clock. Default time.Now; tests inject one to expire iterators.
	Now func() time.Time
	// TTL is how long a token stays valid. Default IteratorTTL (5 minutes, as
	// AWS); the expiry message names it in milliseconds.
	TTL time.Duration
}

// IteratorCodec issues and checks shard iterator tokens: opaque standard
// base64 strings of at most 512 characters, carrying an IteratorPosition and
// its issue time under an HMAC-SHA256 tag. It is safe for concurrent use.
type IteratorCodec struct {
	key []byte
	now func() time.Time
	ttl time.Duration
	// macs pools HMAC states (hmac.New allocates; Reset makes one reusable).
	macs sync.Pool
	// serial numbers the tokens, so that two issued in the same millisecond
	// for the same position still differ (every GetRecords must return a
	// fresh iterator).
	serial atomic.Uint32
}

// ErrIteratorKey reports an unusable iterator key.
var ErrIteratorKey = errors.New("kinesis: iterator key must be at least 16 bytes")

// NewIteratorKey returns a random 32-byte key for IteratorOptions.Key.
func NewIteratorKey() []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	return key
}

// NewIteratorCodec returns a codec with the given options.
func NewIteratorCodec(opts IteratorOptions) (*IteratorCodec, error) {
	if len(opts.Key) < 16 {
		return nil, ErrIteratorKey
	}
	c := &IteratorCodec{key: append([]byte(nil), opts.Key...), now: opts.Now, ttl: opts.TTL}
	if c.now == nil {
		c.now = time.Now
	}
	if c.ttl <= 0 {
		c.ttl = IteratorTTL
	}
	c.macs.New = func() any { return hmac.New(sha256.New, c.key) }
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	c.serial.Store(binary.BigEndian.Uint32(seed[:]))
	return c, nil
}

// Encode returns a token for p, stamped with the current time. It fails only
// for a stream name or shard id that is empty or longer than 128 bytes,
// which the API never admits.
func (c *IteratorCodec) Encode(p IteratorPosition) (string, error) {
	var raw [iteratorMaxRawLen]byte
	b, err := c.appendRaw(raw[:0], &p)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// AppendEncode appends the token for p to dst (allocation-free for callers
// that write the token straight into a response).
func (c *IteratorCodec) AppendEncode(dst []byte, p IteratorPosition) ([]byte, error) {
	var raw [iteratorMaxRawLen]byte
	b, err := c.appendRaw(raw[:0], &p)
	if err != nil {
		return dst, err
	}
	return base64.StdEncoding.AppendEncode(dst, b), nil
}

func (c *IteratorCodec) appendRaw(b []byte, p *IteratorPosition) ([]byte, error) {
	for _, s := range [...]struct{ what, v string }{{"stream name", p.StreamName}, {"shard id", p.ShardID}} {
		if len(s.v) == 0 || len(s.v) > iteratorMaxName {
			return nil, fmt.Errorf("kinesis: encode iterator: %s is %d bytes; it must be 1..%d", s.what, len(s.v), iteratorMaxName)
		}
	}
	b = append(b, iteratorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(c.now().UnixMilli()))
	b = binary.BigEndian.AppendUint32(b, c.serial.Add(1))
	b = binary.BigEndian.AppendUint64(b, p.Incarnation)
	b = binary.BigEndian.AppendUint64(b, p.Sequence)
	b = append(b, byte(len(p.StreamName)))
	b = append(b, p.StreamName...)
	b = append(b, byte(len(p.ShardID)))
	b = append(b, p.ShardID...)
	return c.appendTag(b, b), nil
}

// appendTag appends the truncated HMAC of msg to dst.
func (c *IteratorCodec) appendTag(dst, msg []byte) []byte {
	mac := c.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(msg)
	var sum [sha256.Size]byte
	dst = append(dst, mac.Sum(sum[:0])[:iteratorTagLen]...)
	c.macs.Put(mac)
	return dst
}

// Decode checks token and returns its position. A token that is not one this
// codec issued (malformed, edited, forged, or made with another key) is an
// InvalidArgumentException "Invalid ShardIterator."; a genuine token older
// than the TTL is an ExpiredIteratorException worded as AWS words it. A
// genuine token issued "in the future" (the clock stepped back) is accepted:
// the tag proves this codec issued it.
func (c *IteratorCodec) Decode(token string) (IteratorPosition, error) {
	if len(token) > iteratorMaxTokenLen || len(token)%4 != 0 {
		return IteratorPosition{}, errInvalidIterator()
	}
	var raw [iteratorMaxTokenLen / 4 * 3]byte
	n, err := strictBase64.Decode(raw[:], []byte(token))
	if err != nil || n < iteratorFixedLen+2 || n > iteratorMaxRawLen {
		return IteratorPosition{}, errInvalidIterator()
	}
	b := raw[:n]
	body, tag := b[:n-iteratorTagLen], b[n-iteratorTagLen:]
	var want [iteratorTagLen]byte
	if !hmac.Equal(c.appendTag(want[:0], body), tag) || body[0] != iteratorVersion {
		return IteratorPosition{}, errInvalidIterator()
	}
	issuedMs := int64(binary.BigEndian.Uint64(body[1:9]))
	p := IteratorPosition{
		Incarnation: binary.BigEndian.Uint64(body[13:21]),
		Sequence:    binary.BigEndian.Uint64(body[21:29]),
		Issued:      time.UnixMilli(issuedMs).UTC(),
	}
	rest := body[29:]
	name, rest, ok := cutLenPrefixed(rest)
	shard, rest, ok2 := cutLenPrefixed(rest)
	if !ok || !ok2 || len(rest) != 0 {
		return IteratorPosition{}, errInvalidIterator() // a tag we made covers well-formed bodies only
	}
	p.StreamName, p.ShardID = string(name), string(shard)
	now := c.now()
	if now.UnixMilli()-issuedMs > c.ttl.Milliseconds() {
		return IteratorPosition{}, Errorf(CodeExpiredIterator,
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			awsDate(p.Issued), awsDate(now), c.ttl.Milliseconds())
	}
	return p, nil
}

// cutLenPrefixed splits a u8-length-prefixed field off b.
func cutLenPrefixed(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 1 || int(b[0]) == 0 || len(b)-1 < int(b[0]) {
		return nil, nil, false
	}
	n := int(b[0])
	return b[1 : 1+n], b[1+n:], true
}

func errInvalidIterator() *Error {
	return Errorf(CodeInvalidArgument, "Invalid ShardIterator.")
}

// awsDate formats t as Java's Date.toString in UTC ("Thu Jan 22 01:22:02 UTC
// 2015"), the form of AWS's iterator expiry message.
func awsDate(t time.Time) string {
	return t.UTC().Format("Mon Jan 02 15:04:05 UTC 2006")
}
