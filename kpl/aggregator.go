package kpl

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"hash/maphash"
)

// Aggregate is one finished aggregate: the data, partition key and explicit
// hash key of the Kinesis record that carries it.
type Aggregate struct {
	// Data is the aggregate itself: magic, protobuf, MD5.
	Data []byte
	// PartitionKey is the first user record's partition key.
	PartitionKey []byte
	// ExplicitHashKey is the first user record's explicit hash key, nil if it
	// had none (its partition key then routes the aggregate alike).
	ExplicitHashKey []byte
	// Records is the number of user records in Data.
	Records int
}

// Aggregator packs user records bound for one shard into KPL aggregates of
// at most maxBytes, counting the aggregate's data and its partition key as
// Kinesis counts a record against its size limit (1 MiB by default). It
// copies what it is given, deduplicates partition keys and explicit hash
// keys into the tables of the format, and reuses its buffers from one
// aggregate to the next: in the steady state it allocates nothing. It is
// not safe for concurrent use.
//
// Use: Add each user record; when Add returns an Aggregate with Data, put it
// (it holds the records added before, and the new record starts the next
// aggregate); when no more records are coming for a while, Flush and put
// what it returns, if anything.
type Aggregator struct {
	max int

	// The aggregate being built, in the pieces of its protobuf.
	keys     stringTable // partition_key_table
	hashKeys stringTable // explicit_hash_key_table
	recs     []byte      // the records fields, encoded
	n        int         // user records held
	firstKey int         // len of the first record's partition key
	firstEHK bool        // whether the first record has an explicit hash key

	out []byte // the last aggregate handed out: valid until the next Add or Flush
}

// NewAggregator returns an Aggregator whose aggregates (data plus partition
// key) are at most maxBytes long. KPL's default is 51,200 bytes; the
// largest useful value is the stream's record limit.
func NewAggregator(maxBytes int) *Aggregator {
	return &Aggregator{max: maxBytes, keys: newStringTable(), hashKeys: newStringTable()}
}

// Len is the number of user records held, not yet handed out.
func (a *Aggregator) Len() int { return a.n }

// Size is the size (data plus partition key) of the aggregate Flush would
// return now; 0 when no record is held.
func (a *Aggregator) Size() int {
	if a.n == 0 {
		return 0
	}
	return overhead + a.keys.encoded + a.hashKeys.encoded + len(a.recs) + a.firstKey
}

// Add copies r into the aggregate being built. When r does not fit beside
// the records held, Add first finishes them and returns them as full
// (whose slices are valid until the next call of Add or Flush), and r
// starts the next aggregate; otherwise full is empty (full.Data == nil).
// A record that would not fit even alone is refused with an error wrapping
// ErrTooLarge, and nothing changes.
func (a *Aggregator) Add(r Record) (full Aggregate, err error) {
	if alone := a.cost(r, true); alone > a.max {
		return Aggregate{}, fmt.Errorf("%w: %d bytes of partition key, explicit hash key and data make an aggregate of %d bytes; the limit is %d",
			ErrTooLarge, len(r.PartitionKey)+len(r.ExplicitHashKey)+len(r.Data), alone, a.max)
	}
	if a.n > 0 && a.Size()+a.cost(r, false) > a.max {
		full = a.finish()
	}
	a.add(r)
	return full, nil
}

// Flush finishes and returns the aggregate of the records held (valid
// until the next call of Add or Flush); Data is nil when none is held.
func (a *Aggregator) Flush() Aggregate {
	if a.n == 0 {
		return Aggregate{}
	}
	return a.finish()
}

// Reset drops the records held.
func (a *Aggregator) Reset() {
	a.keys.reset()
	a.hashKeys.reset()
	a.recs = a.recs[:0]
	a.n, a.firstKey, a.firstEHK = 0, 0, false
}

// cost is the bytes r adds to the aggregate being built, or, if alone, to
// an empty one (with the overhead and the Kinesis record's partition key).
func (a *Aggregator) cost(r Record, alone bool) int {
	c := 0
	key, hashKey := -1, -1
	if !alone {
		key = a.keys.find(r.PartitionKey)
	}
	if key < 0 {
		key = a.keys.len()
		if alone {
			key = 0
		}
		c += entryLen(len(r.PartitionKey))
	}
	if r.ExplicitHashKey != nil {
		if !alone {
			hashKey = a.hashKeys.find(r.ExplicitHashKey)
		}
		if hashKey < 0 {
			hashKey = a.hashKeys.len()
			if alone {
				hashKey = 0
			}
			c += entryLen(len(r.ExplicitHashKey))
		}
	}
	c += entryLen(recordLen(key, hashKey, len(r.Data)))
	if alone {
		c += overhead + len(r.PartitionKey)
	}
	return c
}

// entryLen is the bytes of a length-delimited field of n bytes.
func entryLen(n int) int { return tagLen + uvarintLen(uint64(n)) + n }

// recordLen is the bytes of a Record message; hashKey < 0 means none.
func recordLen(key, hashKey, data int) int {
	n := tagLen + uvarintLen(uint64(key)) + entryLen(data)
	if hashKey >= 0 {
		n += tagLen + uvarintLen(uint64(hashKey))
	}
	return n
}

func (a *Aggregator) add(r Record) {
	key := a.keys.intern(r.PartitionKey)
	hashKey := -1
	if r.ExplicitHashKey != nil {
		hashKey = a.hashKeys.intern(r.ExplicitHashKey)
	}
	if a.n == 0 {
		a.firstKey, a.firstEHK = len(r.PartitionKey), r.ExplicitHashKey != nil
	}
	a.recs = append(a.recs, tag(fieldRecords, wireBytes))
	a.recs = appendUvarint(a.recs, uint64(recordLen(key, hashKey, len(r.Data))))
	a.recs = append(a.recs, tag(fieldPartitionKeyIndex, wireVarint))
	a.recs = appendUvarint(a.recs, uint64(key))
	if hashKey >= 0 {
		a.recs = append(a.recs, tag(fieldExplicitHashKeyIndex, wireVarint))
		a.recs = appendUvarint(a.recs, uint64(hashKey))
	}
	a.recs = append(a.recs, tag(fieldData, wireBytes))
	a.recs = appendUvarint(a.recs, uint64(len(r.Data)))
	a.recs = append(a.recs, r.Data...)
	a.n++
}

// finish encodes the aggregate of the records held into out, resets, and
// returns it.
func (a *Aggregator) finish() Aggregate {
	out := append(a.out[:0], magic0, magic1, magic2, magic3)
	keyAt := 0
	out, keyAt = a.keys.appendFields(out, fieldPartitionKeyTable)
	var hashKeyAt int
	out, hashKeyAt = a.hashKeys.appendFields(out, fieldExplicitHashKeyTable)
	out = append(out, a.recs...)
	sum := md5.Sum(out[magicLen:])
	out = append(out, sum[:]...)
	agg := Aggregate{Data: out, PartitionKey: out[keyAt : keyAt+a.firstKey : keyAt+a.firstKey], Records: a.n}
	if a.firstEHK {
		n := a.hashKeys.ends[0]
		agg.ExplicitHashKey = out[hashKeyAt : hashKeyAt+n : hashKeyAt+n]
	}
	a.out = out
	a.Reset()
	return agg
}

// stringTable is one string table of the aggregate being built: its
// distinct entries in order of first use, and an open-addressing hash index
// over them.
type stringTable struct {
	data    []byte // the entries, back to back
	ends    []int  // the end of each entry in data
	slots   []int32
	seed    maphash.Seed
	encoded int // bytes of the entries as protobuf fields
}

func newStringTable() stringTable {
	return stringTable{slots: make([]int32, 64), seed: maphash.MakeSeed()}
}

func (t *stringTable) len() int { return len(t.ends) }

func (t *stringTable) entry(i int) []byte {
	start := 0
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.data[start:t.ends[i]]
}

// slot is the index in slots where s is or would go.
func (t *stringTable) slot(s []byte) int {
	mask := len(t.slots) - 1
	i := int(maphash.Bytes(t.seed, s)) & mask
	for {
		e := t.slots[i]
		if e == 0 || bytes.Equal(t.entry(int(e-1)), s) {
			return i
		}
		i = (i + 1) & mask
	}
}

// find is the index of s, or -1 if s is not in the table.
func (t *stringTable) find(s []byte) int {
	return int(t.slots[t.slot(s)]) - 1
}

// intern is the index of s, added if it was not there.
func (t *stringTable) intern(s []byte) int {
	i := t.slot(s)
	if e := t.slots[i]; e != 0 {
		return int(e - 1)
	}
	t.data = append(t.data, s...)
	t.ends = append(t.ends, len(t.data))
	t.slots[i] = int32(len(t.ends))
	t.encoded += entryLen(len(s))
	if 2*len(t.ends) > len(t.slots) {
		t.grow()
	}
	return len(t.ends) - 1
}

// grow doubles the slots, keeping them at most half full.
func (t *stringTable) grow() {
	t.slots = make([]int32, 2*len(t.slots))
	for i := range t.ends {
		t.slots[t.slot(t.entry(i))] = int32(i + 1)
	}
}

func (t *stringTable) reset() {
	t.data, t.ends, t.encoded = t.data[:0], t.ends[:0], 0
	clear(t.slots)
}

// appendFields appends the entries as fields numbered num, and returns
// where the first entry's bytes start in out.
func (t *stringTable) appendFields(out []byte, num byte) ([]byte, int) {
	first := 0
	for i := range t.ends {
		e := t.entry(i)
		out = append(out, tag(num, wireBytes))
		out = appendUvarint(out, uint64(len(e)))
		if i == 0 {
			first = len(out)
		}
		out = append(out, e...)
	}
	return out, first
}
