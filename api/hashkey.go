package api

import (
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"strconv"
)

// HashKey is a point in a stream's 128-bit hash key space.
type HashKey struct{ Hi, Lo uint64 }

// MaxHashKey is 2^128-1, the end of the hash key space.
var MaxHashKey = HashKey{Hi: ^uint64(0), Lo: ^uint64(0)}

// HashPartitionKey returns MD5(key) read as a big-endian 128-bit integer, the
// hash Kinesis routes a record by.
func HashPartitionKey(key []byte) HashKey {
	sum := md5.Sum(key)
	return HashKey{Hi: be64(sum[0:8]), Lo: be64(sum[8:16])}
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// Cmp returns -1, 0 or +1 as h is less than, equal to or greater than o.
func (h HashKey) Cmp(o HashKey) int {
	switch {
	case h.Hi < o.Hi:
		return -1
	case h.Hi > o.Hi:
		return 1
	case h.Lo < o.Lo:
		return -1
	case h.Lo > o.Lo:
		return 1
	}
	return 0
}

// Add returns h+o and whether it overflowed.
func (h HashKey) Add(o HashKey) (HashKey, bool) {
	lo, c := bits.Add64(h.Lo, o.Lo, 0)
	hi, c := bits.Add64(h.Hi, o.Hi, c)
	return HashKey{hi, lo}, c != 0
}

// Sub returns h-o (wrapping).
func (h HashKey) Sub(o HashKey) HashKey {
	lo, b := bits.Sub64(h.Lo, o.Lo, 0)
	hi, _ := bits.Sub64(h.Hi, o.Hi, b)
	return HashKey{hi, lo}
}

// Inc returns h+1 (wrapping).
func (h HashKey) Inc() HashKey { r, _ := h.Add(HashKey{0, 1}); return r }

// Dec returns h-1 (wrapping).
func (h HashKey) Dec() HashKey { return h.Sub(HashKey{0, 1}) }

// divSmall returns h/d and h%d.
func (h HashKey) divSmall(d uint64) (HashKey, uint64) {
	qhi, r := bits.Div64(0, h.Hi, d)
	qlo, r := bits.Div64(r, h.Lo, d)
	return HashKey{qhi, qlo}, r
}

// AppendDecimal appends the decimal form of h to dst.
func (h HashKey) AppendDecimal(dst []byte) []byte {
	if h.Hi == 0 {
		return strconv.AppendUint(dst, h.Lo, 10)
	}
	var buf [40]byte
	i := len(buf)
	for h.Hi != 0 || h.Lo != 0 {
		var r uint64
		// Peel 19 digits at a time.
		h, r = h.divSmall(1e19)
		if h.Hi == 0 && h.Lo == 0 {
			for r != 0 {
				i--
				buf[i] = byte('0' + r%10)
				r /= 10
			}
			break
		}
		for k := 0; k < 19; k++ {
			i--
			buf[i] = byte('0' + r%10)
			r /= 10
		}
	}
	return append(dst, buf[i:]...)
}

// String is the decimal form of h, as Kinesis writes hash keys.
func (h HashKey) String() string { return string(h.AppendDecimal(nil)) }

var errHashKeySyntax = errors.New("not a decimal integer in [0, 2^128-1]")

// ParseHashKey parses a decimal hash key in [0, 2^128-1] as Kinesis writes
// them (no sign, no leading zeros except "0" itself).
func ParseHashKey(s string) (HashKey, error) {
	if s == "" || len(s) > 39 || (len(s) > 1 && s[0] == '0') {
		return HashKey{}, errHashKeySyntax
	}
	var h HashKey
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return HashKey{}, errHashKeySyntax
		}
		// h = h*10 + digit, checking overflow.
		hi, lo := bits.Mul64(h.Lo, 10)
		hh, ho := bits.Mul64(h.Hi, 10)
		if hh != 0 {
			return HashKey{}, errHashKeySyntax
		}
		hi, c1 := bits.Add64(hi, ho, 0)
		if c1 != 0 {
			return HashKey{}, errHashKeySyntax
		}
		var c2 uint64
		lo, c2 = bits.Add64(lo, uint64(c-'0'), 0)
		hi, c1 = bits.Add64(hi, 0, c2)
		if c1 != 0 {
			return HashKey{}, errHashKeySyntax
		}
		h = HashKey{hi, lo}
	}
	return h, nil
}

// EvenRanges splits [0, 2^128-1] into n contiguous ranges of equal size (the
// last absorbs the remainder), as Kinesis does at stream creation.
func EvenRanges(n int) [][2]HashKey {
	return SplitRange(HashKey{}, MaxHashKey, n)
}

// SplitRange splits [start, end] into n contiguous ranges of near-equal size.
func SplitRange(start, end HashKey, n int) [][2]HashKey {
	out := make([][2]HashKey, n)
	width := end.Sub(start) // size-1
	step, _ := width.divSmall(uint64(n))
	// step*n <= width; the last range takes what is left.
	if width == MaxHashKey {
		// (2^128)/n computed as (2^128-1)/n, adjusting for exact divisors.
		_, r := width.divSmall(uint64(n))
		if r == uint64(n)-1 {
			step = step.Inc()
		}
	} else {
		size := width.Inc()
		step, _ = size.divSmall(uint64(n))
	}
	cur := start
	for i := 0; i < n; i++ {
		out[i][0] = cur
		if i == n-1 {
			out[i][1] = end
		} else {
			next, _ := cur.Add(step)
			out[i][1] = next.Dec()
			cur = next
		}
	}
	return out
}

// Big returns h as a math/big integer.
func (h HashKey) Big() *big.Int {
	b := new(big.Int).SetUint64(h.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(h.Lo))
}

// MarshalText writes a hash key in decimal.
func (h HashKey) MarshalText() ([]byte, error) { return h.AppendDecimal(nil), nil }

// UnmarshalText reads a decimal hash key.
func (h *HashKey) UnmarshalText(b []byte) error {
	v, err := ParseHashKey(string(b))
	if err != nil {
		return fmt.Errorf("hash key %q: %w", Clip(string(b)), err)
	}
	*h = v
	return nil
}
