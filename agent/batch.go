package agent

import (
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"
)

// batch is one PutRecords request being filled by a flow's tailer and then
// sent by its sender. Its keys and data sit back to back in one buffer that
// is reused from batch to batch.
type batch struct {
	buf   []byte
	spans []span
	marks []mark
	bytes int       // keys and data
	first time.Time // when the first record was added
}

// span locates one record's key and data in buf.
type span struct{ key, data, end int }

// mark says which file a record came from and the offset just past its
// bytes there: once the record is acknowledged, that file's checkpoint may
// move to end.
type mark struct {
	src *source
	end int64
}

func (b *batch) reset() {
	b.buf, b.spans, b.marks, b.bytes = b.buf[:0], b.spans[:0], b.marks[:0], 0
}

func (b *batch) len() int { return len(b.spans) }

// add appends one record; key and data are copied.
func (b *batch) add(key, data []byte, m mark, now time.Time) {
	if len(b.spans) == 0 {
		b.first = now
	}
	k := len(b.buf)
	b.buf = append(b.buf, key...)
	d := len(b.buf)
	b.buf = append(b.buf, data...)
	b.spans = append(b.spans, span{key: k, data: d, end: len(b.buf)})
	b.marks = append(b.marks, m)
	b.bytes += len(key) + len(data)
}

// records fills recs with the batch's records (slices of buf, valid until
// the next reset).
func (b *batch) records(recs []Record) []Record {
	recs = recs[:0]
	for _, s := range b.spans {
		recs = append(recs, Record{Key: b.buf[s.key:s.data:s.data], Data: b.buf[s.data:s.end:s.end]})
	}
	return recs
}

// keyer makes partition keys by a flow's partitionKeyOption.
type keyer struct {
	option string
	field  []string // JSON_FIELD: the dotted path
	rng    *rand.Rand
	buf    []byte
	// fallbacks counts JSON_FIELD records without the field, keyed as
	// DETERMINISTIC instead.
	fallbacks int
}

func newKeyer(f *Flow) *keyer {
	k := &keyer{option: f.PartitionKeyOption, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	if f.PartitionKeyOption == KeyJSONField {
		k.field = strings.Split(f.PartitionKeyField, ".")
	}
	return k
}

// key returns the partition key of a record, valid until the next call.
func (k *keyer) key(data []byte) []byte {
	switch k.option {
	case KeyRandom:
		var r [8]byte
		v := k.rng.Uint64()
		for i := range r {
			r[i] = byte(v >> (8 * i))
		}
		k.buf = hex.AppendEncode(k.buf[:0], r[:])
		return k.buf
	case KeyJSONField:
		if v, ok := jsonField(data, k.field); ok {
			k.buf = append(k.buf[:0], v...)
			return k.buf
		}
		k.fallbacks++
	}
	// FNV-1a, 64 bits, written out so that it does not allocate.
	h := uint64(14695981039346656037)
	for _, c := range data {
		h ^= uint64(c)
		h *= 1099511628211
	}
	var sum [8]byte
	for i := range sum {
		sum[i] = byte(h >> (56 - 8*i))
	}
	k.buf = hex.AppendEncode(k.buf[:0], sum[:])
	return k.buf
}

// jsonField returns the value at path in a JSON object record, as its text
// for a string and as its JSON for a number or boolean, cut to the 256
// characters a partition key may have; ok is false when the record is not
// an object, lacks the field, or the value is empty, null or a container.
func jsonField(data []byte, path []string) (string, bool) {
	var cur json.RawMessage = data
	for _, name := range path {
		var obj map[string]json.RawMessage
		if json.Unmarshal(cur, &obj) != nil {
			return "", false
		}
		v, ok := obj[name]
		if !ok {
			return "", false
		}
		cur = v
	}
	var s string
	switch {
	case len(cur) == 0:
		return "", false
	case cur[0] == '"':
		if json.Unmarshal(cur, &s) != nil {
			return "", false
		}
	case cur[0] == '{' || cur[0] == '[' || string(cur) == "null":
		return "", false
	default:
		s = string(cur)
	}
	if s == "" {
		return "", false
	}
	if utf8.RuneCountInString(s) > maxPartitionKeyRunes {
		n := 0
		for i := range s {
			if n == maxPartitionKeyRunes {
				s = s[:i]
				break
			}
			n++
		}
	}
	return s, true
}
