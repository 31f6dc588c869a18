package kpl

import (
	"bytes"
	"crypto/md5"
	"math"
	"sync"
)

// Record is one user record of an aggregate.
type Record struct {
	PartitionKey    []byte
	ExplicitHashKey []byte // a decimal 128-bit integer; nil if none
	Data            []byte
}

// IsAggregate reports whether data starts with the KPL magic (F3 89 9A C2).
// It says nothing of the rest: Deaggregate decides whether data is a valid
// aggregate.
func IsAggregate(data []byte) bool {
	return len(data) >= magicLen && data[0] == magic0 && data[1] == magic1 && data[2] == magic2 && data[3] == magic3
}

// Deaggregate calls fn for every user record of a valid aggregate, in
// order, with its sub-sequence number (its 0-based index) and slices that
// alias data (valid as long as data is; fn must not keep them past that
// and must not append to them). It allocates nothing per user record. fn
// returns false to stop early. ok is false, and fn is never called, when
// data is not a valid aggregate (bad magic, bad MD5, bad protobuf, an index
// out of its table, no user record): the caller then delivers data as one
// plain record.
func Deaggregate(data []byte, fn func(sub int, r Record) bool) (ok bool) {
	if !IsAggregate(data) || len(data) < overhead || len(data) > math.MaxInt32 {
		return false // (a record is at most 10 MiB; spans are 32-bit)
	}
	body := data[magicLen : len(data)-digestLen]
	sum := md5.Sum(body)
	if !bytes.Equal(sum[:], data[len(data)-digestLen:]) {
		return false
	}
	var keys, hashKeys table
	defer keys.release()
	defer hashKeys.release()
	// First pass: check everything and index the tables, which protobuf
	// allows anywhere in the message, so that fn is never called for an
	// aggregate found bad later.
	nrecs := 0
	var maxKey, maxHashKey uint64 // 1 + the largest index used; 0 if none
	for b := body; len(b) > 0; {
		num, wt, _, contents, n := field(b)
		if n == 0 {
			return false
		}
		b = b[n:]
		switch num {
		case fieldPartitionKeyTable, fieldExplicitHashKeyTable:
			if wt != wireBytes {
				return false
			}
			s := span{int32(len(body) - len(b) - len(contents)), int32(len(body) - len(b))}
			if num == fieldPartitionKeyTable {
				keys.add(s)
			} else {
				hashKeys.add(s)
			}
		case fieldRecords:
			if wt != wireBytes {
				return false
			}
			r, ok := parseRecord(contents)
			if !ok || r.key == math.MaxUint64 || r.hashKey == math.MaxUint64 {
				return false // (an index that large is in no table)
			}
			maxKey = max(maxKey, r.key+1)
			if r.hasHashKey {
				maxHashKey = max(maxHashKey, r.hashKey+1)
			}
			nrecs++
		}
	}
	if nrecs == 0 || maxKey > uint64(keys.n) || maxHashKey > uint64(hashKeys.n) {
		return false
	}
	// Second pass: deliver. Nothing can fail now.
	sub := 0
	for b := body; len(b) > 0; {
		num, _, _, contents, n := field(b)
		b = b[n:]
		if num != fieldRecords {
			continue
		}
		r, _ := parseRecord(contents)
		k := keys.at(int(r.key))
		rec := Record{PartitionKey: body[k.start:k.end:k.end], Data: r.data}
		if r.hasHashKey {
			h := hashKeys.at(int(r.hashKey))
			rec.ExplicitHashKey = body[h.start:h.end:h.end]
		}
		if !fn(sub, rec) {
			break
		}
		sub++
	}
	return true
}

// parsed is one Record message read by parseRecord.
type parsed struct {
	key, hashKey uint64
	hasHashKey   bool
	data         []byte
}

// parseRecord reads one Record message. ok is false when it is malformed or
// lacks a required field. A field given twice takes its last value, as in
// protobuf.
func parseRecord(b []byte) (r parsed, ok bool) {
	hasKey, hasData := false, false
	for len(b) > 0 {
		num, wt, v, contents, n := field(b)
		if n == 0 {
			return parsed{}, false
		}
		b = b[n:]
		switch num {
		case fieldPartitionKeyIndex:
			if wt != wireVarint {
				return parsed{}, false
			}
			r.key, hasKey = v, true
		case fieldExplicitHashKeyIndex:
			if wt != wireVarint {
				return parsed{}, false
			}
			r.hashKey, r.hasHashKey = v, true
		case fieldData:
			if wt != wireBytes {
				return parsed{}, false
			}
			r.data, hasData = contents, true
		case fieldTags:
			if wt != wireBytes || !validTag(contents) {
				return parsed{}, false
			}
		}
	}
	return r, hasKey && hasData
}

// validTag reports whether b is a well-formed Tag message.
func validTag(b []byte) bool {
	hasKey := false
	for len(b) > 0 {
		num, wt, _, _, n := field(b)
		if n == 0 {
			return false
		}
		b = b[n:]
		switch num {
		case fieldTagKey, fieldTagValue:
			if wt != wireBytes {
				return false
			}
			hasKey = hasKey || num == fieldTagKey
		}
	}
	return hasKey
}

// span is the bytes [start, end) of an aggregate's protobuf: 8 bytes for
// an entry of at least 2 (its tag and length), so a table's index takes at
// most 4 times the bytes of the table.
type span struct{ start, end int32 }

// smallTable is the entries a table holds without a pooled slice: most
// aggregates have fewer distinct explicit hash keys, and many fewer
// partition keys.
const smallTable = 32

// table indexes the entries of one string table of an aggregate. The first
// smallTable entries live in the table itself (on the stack); more go to a
// slice from spanPool, so that reading an aggregate allocates nothing in
// the steady state.
type table struct {
	small [smallTable]span
	big   *[]span // entries past small, from spanPool; nil until needed
	n     int
}

var spanPool = sync.Pool{New: func() any { s := make([]span, 0, 256); return &s }}

func (t *table) add(s span) {
	if t.n < smallTable {
		t.small[t.n] = s
	} else {
		if t.big == nil {
			t.big = spanPool.Get().(*[]span)
			*t.big = (*t.big)[:0]
		}
		*t.big = append(*t.big, s)
	}
	t.n++
}

func (t *table) at(i int) span {
	if i < smallTable {
		return t.small[i]
	}
	return (*t.big)[i-smallTable]
}

// release returns the pooled slice, unless it grew past 64 Ki entries (512 KiB):
// one huge aggregate should not pin its table's memory for good.
func (t *table) release() {
	if t.big != nil && cap(*t.big) <= 64<<10 {
		spanPool.Put(t.big)
	}
	t.big = nil
}
