package kinesis

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
)

// Timestamp is an instant of the Kinesis API, kept with millisecond precision
// (Kinesis keeps no finer precision: ApproximateArrivalTimestamp and the
// AT_TIMESTAMP positions are milliseconds).
//
// On the wire it is a JSON number of epoch seconds with up to three fractional
// digits in application/x-amz-json-1.1 (the AWS SDKs write and read
// 1459799926.48), and a CBOR integer of epoch milliseconds in
// application/x-amz-cbor-1.1 (the Java SDK v2 writes tag 1 followed by the
// millisecond count and reads the number back with Long.parseLong, so it must be
// an integer).
//
// The zero Timestamp means "absent": members of this type are tagged omitzero
// and a decoded zero value means the client did not send the member.
type Timestamp struct {
	ms    int64
	valid bool
}

// TimestampFromTime returns t truncated to the millisecond.
func TimestampFromTime(t time.Time) Timestamp {
	return Timestamp{ms: t.UnixMilli(), valid: true}
}

// TimestampFromMillis returns the instant ms milliseconds after the Unix epoch.
func TimestampFromMillis(ms int64) Timestamp {
	return Timestamp{ms: ms, valid: true}
}

// IsZero reports whether t is absent. The Unix epoch itself is not zero.
func (t Timestamp) IsZero() bool { return !t.valid }

// Millis returns t as milliseconds since the Unix epoch (0 for the zero Timestamp).
func (t Timestamp) Millis() int64 { return t.ms }

// Time returns t as a time.Time in UTC, or the zero time.Time for the zero Timestamp.
func (t Timestamp) Time() time.Time {
	if !t.valid {
		return time.Time{}
	}
	return time.UnixMilli(t.ms).UTC()
}

// String formats t as RFC 3339 with milliseconds, or "absent".
func (t Timestamp) String() string {
	if !t.valid {
		return "absent"
	}
	return t.Time().Format("2006-01-02T15:04:05.000Z07:00")
}

// Bounds on a JSON timestamp number: its length, and its decimal exponent
// (beyond 400 a value of at most 100 digits is out of range or below 1 ms).
const (
	maxTimestampDigits   = 100
	maxTimestampExponent = 400
)

// errTimestampRange reports a timestamp that does not fit in int64 milliseconds.
var errTimestampRange = errors.New("timestamp is out of range; it must be epoch seconds within ±292 million years")

// MarshalJSON writes t as epoch seconds with millisecond precision.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if !t.valid {
		return []byte("null"), nil
	}
	return appendEpochSeconds(nil, t.ms), nil
}

// UnmarshalJSON reads a JSON number of epoch seconds, possibly fractional or in
// exponent form (the AWS SDK for Java v1 writes 1.459799926480E9). Digits below
// the millisecond are truncated, as AWS does. null leaves t unchanged.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	ms, err := parseEpochSecondsJSON(b)
	if err != nil {
		return err
	}
	*t = Timestamp{ms: ms, valid: true}
	return nil
}

// MarshalCBOR writes t as a CBOR integer of epoch milliseconds.
func (t Timestamp) MarshalCBOR() ([]byte, error) {
	if !t.valid {
		return []byte{cborNull}, nil
	}
	return appendCBORInt(nil, t.ms), nil
}

// UnmarshalCBOR reads epoch milliseconds: an integer or a float, optionally
// under tag 1 (the Java SDK writes tag 1 with milliseconds, not the seconds of
// RFC 8949). null and undefined leave t unchanged.
func (t *Timestamp) UnmarshalCBOR(b []byte) error {
	r := cborReader{cursor{buf: b}}
	ms, present, err := r.readTimestamp()
	if err != nil {
		return err
	}
	if r.pos != len(b) {
		return errors.New("trailing bytes after timestamp")
	}
	if present {
		*t = Timestamp{ms: ms, valid: true}
	}
	return nil
}

// appendEpochSeconds appends ms as a JSON number of seconds with the
// fractional digits that are not zero (1700000000.12, 1700000000).
func appendEpochSeconds(dst []byte, ms int64) []byte {
	neg := ms < 0
	u := uint64(ms)
	if neg {
		u = -u
		dst = append(dst, '-')
	}
	dst = strconv.AppendUint(dst, u/1000, 10)
	frac := u % 1000
	if frac == 0 {
		return dst
	}
	digits := [3]byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 3
	for digits[n-1] == '0' {
		n--
	}
	dst = append(dst, '.')
	return append(dst, digits[:n]...)
}

// parseEpochSecondsJSON converts a JSON number token of seconds to
// milliseconds, exactly (no float rounding), truncating toward zero.
func parseEpochSecondsJSON(b []byte) (int64, error) {
	if !validJSONNumber(b) {
		if len(b) > 0 && b[0] == '"' {
			return 0, errors.New("expected a number of epoch seconds, got a string")
		}
		return 0, fmt.Errorf("expected a number of epoch seconds, got %.32q", b)
	}
	// Fast path: plain decimals with at most 3 fractional digits and no exponent.
	if ms, ok := parseSimpleSeconds(b); ok {
		return ms, nil
	}
	// Bound the exact arithmetic below: no real timestamp needs more digits,
	// and big.Rat would build 10^e for an exponent e of any size.
	if len(b) > maxTimestampDigits {
		return 0, fmt.Errorf("timestamp %.24s… has %d characters; the limit is %d", b, len(b), maxTimestampDigits)
	}
	if i := bytes.IndexAny(b, "eE"); i >= 0 {
		exp, err := strconv.Atoi(string(b[i+1:]))
		mantissaZero := len(bytes.Trim(b[:i], "-0.")) == 0
		switch {
		case mantissaZero:
			return 0, nil
		case err != nil || exp > maxTimestampExponent:
			return 0, errTimestampRange
		case exp < -maxTimestampExponent:
			return 0, nil // |value| < 10^(100-400) s truncates to 0 ms
		}
	}
	r, ok := new(big.Rat).SetString(string(b))
	if !ok {
		return 0, fmt.Errorf("expected a number of epoch seconds, got %.32q", b)
	}
	r.Mul(r, big.NewRat(1000, 1))
	q := new(big.Int).Quo(r.Num(), r.Denom()) // truncates toward zero
	if !q.IsInt64() {
		return 0, errTimestampRange
	}
	return q.Int64(), nil
}

// parseSimpleSeconds handles -?digits(.digits{1,3})? without overflow.
func parseSimpleSeconds(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	var sec uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i >= 15 { // 10^15 s is far beyond any real timestamp; leave it to big.Rat
			return 0, false
		}
		sec = sec*10 + uint64(b[i]-'0')
	}
	var frac uint64
	if i < len(b) {
		if b[i] != '.' {
			return 0, false
		}
		i++
		n := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if n == 3 {
				return 0, false
			}
			frac = frac*10 + uint64(b[i]-'0')
			n++
		}
		for ; n < 3; n++ {
			frac *= 10
		}
		if i != len(b) {
			return 0, false
		}
	}
	ms := int64(sec*1000 + frac)
	if neg {
		ms = -ms
	}
	return ms, true
}

// validJSONNumber reports whether b is exactly one JSON number (RFC 8259).
func validJSONNumber(b []byte) bool {
	r := jsonReader{cursor{buf: b}}
	return r.skipNumber() == nil && r.pos == len(b)
}

// floatMillis converts a CBOR float of milliseconds to int64, truncating.
func floatMillis(f float64) (int64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f >= math.MaxInt64 || f < math.MinInt64 {
		return 0, errTimestampRange
	}
	return int64(f), nil
}

// appendCBORInt appends v as a CBOR integer (major type 0 or 1) in its shortest form.
func appendCBORInt(dst []byte, v int64) []byte {
	if v < 0 {
		return appendCBORHead(dst, cborMajorNegInt, uint64(-(v + 1)))
	}
	return appendCBORHead(dst, cborMajorUint, uint64(v))
}

// appendCBORHead appends a CBOR initial byte and argument in shortest form.
func appendCBORHead(dst []byte, major byte, arg uint64) []byte {
	switch {
	case arg < 24:
		return append(dst, major|byte(arg))
	case arg <= math.MaxUint8:
		return append(dst, major|24, byte(arg))
	case arg <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, major|25), uint16(arg))
	case arg <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, major|26), uint32(arg))
	default:
		return binary.BigEndian.AppendUint64(append(dst, major|27), arg)
	}
}
