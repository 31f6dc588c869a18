package kpl

import "crypto/md5"

// The aggregate format (see the package doc). These values are part of the
// format shared with the KPL and must not change.
const (
	magic0, magic1, magic2, magic3 = 0xF3, 0x89, 0x9A, 0xC2

	magicLen  = 4
	digestLen = md5.Size // 16 B
	// overhead is the bytes of an aggregate around its protobuf.
	overhead = magicLen + digestLen

	// Field numbers of AggregatedRecord.
	fieldPartitionKeyTable    = 1
	fieldExplicitHashKeyTable = 2
	fieldRecords              = 3
	// Field numbers of Record.
	fieldPartitionKeyIndex    = 1
	fieldExplicitHashKeyIndex = 2
	fieldData                 = 3
	fieldTags                 = 4
	// Field numbers of Tag.
	fieldTagKey   = 1
	fieldTagValue = 2

	// Protobuf wire types.
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5

	// tagLen is the bytes of every field tag written here: field numbers
	// below 16 take one byte.
	tagLen = 1
)

// tag is the one-byte protobuf key of field f with wire type w (f < 16).
func tag(f, w byte) byte { return f<<3 | w }

// uvarint reads a protobuf varint at the start of b. n is 0 when b ends
// inside it or it is longer than 10 bytes or past 2^64-1.
func uvarint(b []byte) (v uint64, n int) {
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		if i == 9 && c > 1 {
			return 0, 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// uvarintLen is the bytes of v as a varint.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendUvarint appends v as a varint.
func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// field reads one field at the start of b: its number and wire type, its
// value (varint) or contents (length-delimited; fixed-width fields give
// their bytes), and the bytes it took. n is 0 when the field is malformed:
// truncated, field number 0, or a wire type this format never uses (the
// deprecated groups, 3 and 4, or 6 and 7).
func field(b []byte) (num uint64, wt byte, v uint64, contents []byte, n int) {
	key, kn := uvarint(b)
	if kn == 0 {
		return 0, 0, 0, nil, 0
	}
	num, wt = key>>3, byte(key&7)
	if num == 0 || num > 1<<29-1 {
		return 0, 0, 0, nil, 0
	}
	rest := b[kn:]
	switch wt {
	case wireVarint:
		v, vn := uvarint(rest)
		if vn == 0 {
			return 0, 0, 0, nil, 0
		}
		return num, wt, v, nil, kn + vn
	case wireBytes:
		l, ln := uvarint(rest)
		if ln == 0 || l > uint64(len(rest)-ln) {
			return 0, 0, 0, nil, 0
		}
		end := ln + int(l)
		return num, wt, 0, rest[ln:end:end], kn + end
	case wireFixed64, wireFixed32:
		w := 8
		if wt == wireFixed32 {
			w = 4
		}
		if len(rest) < w {
			return 0, 0, 0, nil, 0
		}
		return num, wt, 0, rest[:w:w], kn + w
	}
	return 0, 0, 0, nil, 0
}
