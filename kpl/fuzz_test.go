package kpl

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"testing"
)

// FuzzDeaggregate checks, for any bytes taken as a whole record and as the
// protobuf of an aggregate with a good magic and MD5: no panic; fn is
// called only for data accepted; what is accepted is exactly what a plain
// reference reader accepts, with the same user records; and those records
// re-encode to an aggregate that reads back the same.
func FuzzDeaggregate(f *testing.F) {
	for _, v := range loadVectors(f) {
		data := v.data(f)
		f.Add(data)
		f.Add(data[magicLen : len(data)-digestLen])
	}
	f.Add([]byte(pb{}.bytes(1, []byte("k")).bytes(3, pb{}.varint(1, 0).bytes(3, []byte("d")).bytes(4, pb{}.bytes(1, []byte("t")))).varint(9, 1)))
	f.Add([]byte(pb{}.bytes(1, []byte("k")).bytes(3, pb{}.varint(1, 1).bytes(3, []byte("d")))))
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data)
		sum := md5.Sum(data)
		check(t, append(append([]byte{magic0, magic1, magic2, magic3}, data...), sum[:]...))
	})
}

func check(t *testing.T, data []byte) {
	want, wantOK := reference(data)
	got, ok := collect(t, data)
	if ok != wantOK {
		t.Fatalf("Deaggregate ok = %v, the reference reader says %v", ok, wantOK)
	}
	if !ok {
		return
	}
	sameRecords(t, got, want)
	again, ok := collect(t, aggregateAll(t, got).Data)
	if !ok {
		t.Fatal("the records read re-encode to an aggregate Deaggregate refuses")
	}
	sameRecords(t, again, got)
}

// reference reads an aggregate the plain way: whole messages into slices,
// with encoding/binary's varints, then looks the indices up.
func reference(data []byte) ([]Record, bool) {
	if len(data) < 20 || !bytes.Equal(data[:4], []byte{0xF3, 0x89, 0x9A, 0xC2}) {
		return nil, false
	}
	body := data[4 : len(data)-16]
	if sum := md5.Sum(body); !bytes.Equal(sum[:], data[len(data)-16:]) {
		return nil, false
	}
	type rec struct {
		key, hash       uint64
		hasHash, hasKey bool
		data            []byte
		hasData         bool
	}
	var keys, hashes [][]byte
	var recs []rec
	ok := walk(body, func(num uint64, wt int, v uint64, b []byte) bool {
		switch num {
		case 1, 2:
			if wt != 2 {
				return false
			}
			if num == 1 {
				keys = append(keys, b)
			} else {
				hashes = append(hashes, b)
			}
		case 3:
			if wt != 2 {
				return false
			}
			var r rec
			if !walk(b, func(num uint64, wt int, v uint64, b []byte) bool {
				switch num {
				case 1:
					r.key, r.hasKey = v, true
					return wt == 0
				case 2:
					r.hash, r.hasHash = v, true
					return wt == 0
				case 3:
					r.data, r.hasData = b, true
					return wt == 2
				case 4:
					hasKey := false
					return wt == 2 && walk(b, func(num uint64, wt int, _ uint64, _ []byte) bool {
						if num == 1 {
							hasKey = true
						}
						return (num != 1 && num != 2) || wt == 2
					}) && hasKey
				}
				return true
			}) || !r.hasKey || !r.hasData {
				return false
			}
			recs = append(recs, r)
		}
		return true
	})
	if !ok || len(recs) == 0 {
		return nil, false
	}
	out := make([]Record, len(recs))
	for i, r := range recs {
		if r.key >= uint64(len(keys)) || (r.hasHash && r.hash >= uint64(len(hashes))) {
			return nil, false
		}
		out[i] = Record{PartitionKey: keys[r.key], Data: r.data}
		if r.hasHash {
			out[i].ExplicitHashKey = hashes[r.hash]
		}
	}
	return out, true
}

// walk calls fn for each field of a protobuf message; false if the
// message is malformed or fn says so.
func walk(b []byte, fn func(num uint64, wt int, v uint64, contents []byte) bool) bool {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 || key>>3 == 0 || key>>3 >= 1<<29 {
			return false
		}
		b = b[n:]
		num, wt := key>>3, int(key&7)
		var v uint64
		var contents []byte
		switch wt {
		case 0:
			v, n = binary.Uvarint(b)
			if n <= 0 {
				return false
			}
			b = b[n:]
		case 1, 5:
			w := 8
			if wt == 5 {
				w = 4
			}
			if len(b) < w {
				return false
			}
			b = b[w:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return false
			}
			contents, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return false
		}
		if !fn(num, wt, v, contents) {
			return false
		}
	}
	return true
}
