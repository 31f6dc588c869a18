package kpl

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"testing"
)

// collect de-aggregates data into copies of its user records.
func collect(t testing.TB, data []byte) ([]Record, bool) {
	t.Helper()
	var out []Record
	next := 0
	ok := Deaggregate(data, func(sub int, r Record) bool {
		if sub != next {
			t.Fatalf("sub-sequence number %d, want %d", sub, next)
		}
		next++
		rec := Record{PartitionKey: bytes.Clone(r.PartitionKey), Data: bytes.Clone(r.Data)}
		if r.ExplicitHashKey != nil {
			rec.ExplicitHashKey = bytes.Clone(r.ExplicitHashKey)
		}
		out = append(out, rec)
		return true
	})
	if !ok && len(out) > 0 {
		t.Fatalf("Deaggregate refused data after calling fn %d times", len(out))
	}
	return out, ok
}

func sameRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d user records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !bytes.Equal(g.PartitionKey, w.PartitionKey) || !bytes.Equal(g.Data, w.Data) ||
			!bytes.Equal(g.ExplicitHashKey, w.ExplicitHashKey) || (g.ExplicitHashKey == nil) != (w.ExplicitHashKey == nil) {
			t.Fatalf("user record %d = {%q %q %q}, want {%q %q %q}", i,
				g.PartitionKey, g.ExplicitHashKey, g.Data, w.PartitionKey, w.ExplicitHashKey, w.Data)
		}
	}
}

// aggregateAll packs recs into one aggregate with no size limit to speak of.
func aggregateAll(t testing.TB, recs []Record) Aggregate {
	t.Helper()
	a := NewAggregator(1 << 30)
	for _, r := range recs {
		full, err := a.Add(r)
		if err != nil || full.Data != nil {
			t.Fatalf("Add: %v, full %d bytes", err, len(full.Data))
		}
	}
	return a.Flush()
}

func sampleRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{PartitionKey: fmt.Appendf(nil, "key-%d", i%7), Data: fmt.Appendf(nil, "record %d", i)}
		if i%3 == 0 {
			recs[i].ExplicitHashKey = fmt.Appendf(nil, "%d", i%5*1000)
		}
	}
	return recs
}

func TestAggregator_RoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 31, 32, 33, 100, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			recs := sampleRecords(n)
			agg := aggregateAll(t, recs)
			if agg.Records != n {
				t.Fatalf("Records = %d, want %d", agg.Records, n)
			}
			if !bytes.Equal(agg.PartitionKey, recs[0].PartitionKey) || !bytes.Equal(agg.ExplicitHashKey, recs[0].ExplicitHashKey) {
				t.Fatalf("aggregate routed by %q/%q, want the first record's %q/%q",
					agg.PartitionKey, agg.ExplicitHashKey, recs[0].PartitionKey, recs[0].ExplicitHashKey)
			}
			got, ok := collect(t, agg.Data)
			if !ok {
				t.Fatal("Deaggregate refused the Aggregator's output")
			}
			sameRecords(t, got, recs)
		})
	}
}

func TestAggregator_DeduplicatesKeys(t *testing.T) {
	one := aggregateAll(t, []Record{{PartitionKey: []byte("k"), Data: []byte("a")}})
	many := aggregateAll(t, []Record{{PartitionKey: []byte("k"), Data: []byte("a")}, {PartitionKey: []byte("k"), Data: []byte("b")}})
	// The second record adds only itself: tag, length, key index, data.
	if d := len(many.Data) - len(one.Data); d != 2+2+3 {
		t.Fatalf("a second record of the same key added %d bytes, want 7", d)
	}
}

func TestAggregator_NoHashKeyRoutesByPartitionKey(t *testing.T) {
	agg := aggregateAll(t, []Record{{PartitionKey: []byte("a"), Data: []byte("1")}, {PartitionKey: []byte("b"), ExplicitHashKey: []byte("5"), Data: []byte("2")}})
	if agg.ExplicitHashKey != nil || string(agg.PartitionKey) != "a" {
		t.Fatalf("aggregate routed by %q/%q, want partition key a and no explicit hash key", agg.PartitionKey, agg.ExplicitHashKey)
	}
}

func TestAggregator_SizeLimit(t *testing.T) {
	const limit = 1000
	a := NewAggregator(limit)
	var want, got []Record
	var aggs int
	take := func(agg Aggregate) {
		if agg.Data == nil {
			return
		}
		aggs++
		if size := len(agg.Data) + len(agg.PartitionKey); size > limit {
			t.Fatalf("aggregate of %d bytes, limit %d", size, limit)
		}
		recs, ok := collect(t, agg.Data)
		if !ok || len(recs) != agg.Records {
			t.Fatalf("aggregate of %d records de-aggregates to %d (ok %v)", agg.Records, len(recs), ok)
		}
		got = append(got, recs...)
	}
	for i := range 500 {
		r := Record{PartitionKey: fmt.Appendf(nil, "key-%d", i), Data: bytes.Repeat([]byte{byte(i)}, i%50)}
		want = append(want, r)
		full, err := a.Add(r)
		if err != nil {
			t.Fatal(err)
		}
		if a.Size() > limit {
			t.Fatalf("Size %d over the limit %d", a.Size(), limit)
		}
		take(full)
	}
	take(a.Flush())
	if a.Len() != 0 || a.Size() != 0 {
		t.Fatalf("after Flush: Len %d Size %d, want 0 0", a.Len(), a.Size())
	}
	for i := range want {
		want[i].Data = bytes.Clone(want[i].Data)
	}
	sameRecords(t, got, want)
	if aggs < 10 {
		t.Fatalf("only %d aggregates of at most %d bytes for ~17 KB of records", aggs, limit)
	}
}

func TestAggregator_ExactFit(t *testing.T) {
	r := Record{PartitionKey: []byte("key"), Data: make([]byte, 100)}
	size := len(aggregateAll(t, []Record{r}).Data) + 3
	a := NewAggregator(size)
	if full, err := a.Add(r); err != nil || full.Data != nil {
		t.Fatalf("a record making an aggregate of exactly the limit: %v", err)
	}
	if a.Size() != size {
		t.Fatalf("Size = %d, want %d", a.Size(), size)
	}
	a = NewAggregator(size - 1)
	_, err := a.Add(r)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a record one byte too large: err = %v, want ErrTooLarge", err)
	}
	if a.Len() != 0 {
		t.Fatal("a refused record was held")
	}
	t.Log(err)
}

func TestAggregator_TooLargeKeepsHeld(t *testing.T) {
	a := NewAggregator(200)
	small := Record{PartitionKey: []byte("k"), Data: []byte("small")}
	if _, err := a.Add(small); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add(Record{PartitionKey: []byte("k"), Data: make([]byte, 300)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	got, ok := collect(t, a.Flush().Data)
	if !ok {
		t.Fatal("refused")
	}
	sameRecords(t, got, []Record{small})
}

func TestAggregator_EmptyDataAndKey(t *testing.T) {
	recs := []Record{{PartitionKey: []byte{}, Data: []byte{}}, {PartitionKey: []byte("k"), ExplicitHashKey: []byte{}, Data: nil}}
	got, ok := collect(t, aggregateAll(t, recs).Data)
	if !ok {
		t.Fatal("refused")
	}
	sameRecords(t, got, recs)
}

func TestAggregator_ReusesBuffers(t *testing.T) {
	a := NewAggregator(50 << 10)
	recs := sampleRecords(200)
	fill := func() {
		for _, r := range recs {
			if _, err := a.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		a.Flush()
	}
	fill()
	if n := testing.AllocsPerRun(20, fill); n != 0 {
		t.Fatalf("%v allocations per 200 records after the first aggregate, want 0", n)
	}
}

// seal wraps a protobuf body as an aggregate.
func seal(body []byte) []byte {
	sum := md5.Sum(body)
	out := append([]byte{magic0, magic1, magic2, magic3}, body...)
	return append(out, sum[:]...)
}

// pb builds protobuf bytes: fields of (number, wire type, value).
type pb []byte

func (b pb) varint(num byte, v uint64) pb {
	return appendUvarint(append(b, tag(num, wireVarint)), v)
}

func (b pb) bytes(num byte, s []byte) pb {
	return append(appendUvarint(append(b, tag(num, wireBytes)), uint64(len(s))), s...)
}

func TestDeaggregate_Refuses(t *testing.T) {
	good := aggregateAll(t, sampleRecords(3)).Data
	rec := pb{}.varint(1, 0).bytes(3, []byte("d"))
	cases := map[string][]byte{
		"empty":              nil,
		"magic only":         {magic0, magic1, magic2, magic3},
		"short":              good[:overhead-1],
		"bad magic":          append([]byte{0xF3, 0x89, 0x9A, 0xC3}, good[4:]...),
		"bad md5":            append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1),
		"truncated":          good[:len(good)-1],
		"no records":         seal(pb{}.bytes(1, []byte("k"))),
		"empty protobuf":     seal(nil),
		"key index past":     seal(pb{}.bytes(1, []byte("k")).bytes(3, pb{}.varint(1, 1).bytes(3, []byte("d")))),
		"hash index past":    seal(pb{}.bytes(1, []byte("k")).bytes(3, pb{}.varint(1, 0).varint(2, 0).bytes(3, []byte("d")))),
		"no key index":       seal(pb{}.bytes(1, []byte("k")).bytes(3, pb{}.bytes(3, []byte("d")))),
		"no data":            seal(pb{}.bytes(1, []byte("k")).bytes(3, pb{}.varint(1, 0))),
		"table as varint":    seal(pb{}.varint(1, 0).bytes(3, rec)),
		"records as varint":  seal(pb{}.bytes(1, []byte("k")).varint(3, 5)),
		"data as varint":     seal(pb{}.bytes(1, []byte("k")).bytes(3, pb{}.varint(1, 0).varint(3, 0))),
		"index as bytes":     seal(pb{}.bytes(1, []byte("k")).bytes(3, pb{}.bytes(1, nil).bytes(3, nil))),
		"length past end":    seal(append(pb{}.bytes(1, []byte("k")), tag(3, wireBytes), 100, 1)),
		"truncated varint":   seal(append(pb{}.bytes(1, []byte("k")).bytes(3, rec), 0x08, 0x80)),
		"varint too long":    seal(append(pb{}.bytes(1, []byte("k")).bytes(3, rec), 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02)),
		"field zero":         seal(append(pb{}.bytes(1, []byte("k")).bytes(3, rec), 0x00, 0x00)),
		"group":              seal(append(pb{}.bytes(1, []byte("k")).bytes(3, rec), tag(9, 3))),
		"tag without key":    seal(pb{}.bytes(1, []byte("k")).bytes(3, rec.bytes(4, pb{}.bytes(2, []byte("v"))))),
		"huge index":         seal(pb{}.bytes(1, []byte("k")).bytes(3, pb{}.varint(1, 1<<63).bytes(3, nil))),
		"max uint64 index":   seal(pb{}.bytes(1, []byte("k")).bytes(3, pb{}.varint(1, ^uint64(0)).bytes(3, nil))),
		"fixed64 truncated":  seal(append(pb{}.bytes(1, []byte("k")).bytes(3, rec), tag(9, wireFixed64), 1, 2)),
		"bad record in many": seal(pb{}.bytes(1, []byte("k")).bytes(3, rec).bytes(3, rec).bytes(3, pb{}.varint(1, 0))),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			called := false
			if Deaggregate(data, func(int, Record) bool { called = true; return true }) {
				t.Fatal("accepted")
			}
			if called {
				t.Fatal("fn was called for data refused")
			}
		})
	}
}

func TestDeaggregate_ProtobufLeniency(t *testing.T) {
	// What protobuf readers accept: fields in any order, unknown fields of
	// every wire type, tags, a field given twice (the last wins).
	body := pb{}.
		bytes(3, pb{}.varint(1, 1).varint(2, 0).bytes(3, []byte("first"))).
		varint(15, 7).
		bytes(1, []byte("k0")).
		bytes(3, pb{}.bytes(3, []byte("ignored")).varint(1, 0).bytes(4, pb{}.bytes(1, []byte("t")).bytes(2, []byte("v"))).bytes(3, []byte("second")).varint(9, 1)).
		bytes(2, []byte("12345")).
		bytes(1, []byte("k1"))
	body = append(body, tag(14, wireFixed32), 1, 2, 3, 4, tag(13, wireFixed64), 1, 2, 3, 4, 5, 6, 7, 8)
	got, ok := collect(t, seal(body))
	if !ok {
		t.Fatal("refused")
	}
	sameRecords(t, got, []Record{
		{PartitionKey: []byte("k1"), ExplicitHashKey: []byte("12345"), Data: []byte("first")},
		{PartitionKey: []byte("k0"), Data: []byte("second")},
	})
}

func TestDeaggregate_StopsWhenFnSaysSo(t *testing.T) {
	agg := aggregateAll(t, sampleRecords(10))
	n := 0
	if !Deaggregate(agg.Data, func(sub int, r Record) bool { n++; return sub < 3 }) {
		t.Fatal("refused")
	}
	if n != 4 {
		t.Fatalf("fn called %d times, want 4", n)
	}
}

func TestIsAggregate(t *testing.T) {
	for _, c := range []struct {
		data []byte
		want bool
	}{{nil, false}, {[]byte{0xF3, 0x89, 0x9A}, false}, {[]byte{0xF3, 0x89, 0x9A, 0xC2}, true}, {[]byte("plain"), false}} {
		if got := IsAggregate(c.data); got != c.want {
			t.Errorf("IsAggregate(%x) = %v, want %v", c.data, got, c.want)
		}
	}
}

func TestDeaggregate_NoAllocations(t *testing.T) {
	for _, n := range []int{10, 1000} {
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{PartitionKey: fmt.Appendf(nil, "key-%d", i), Data: []byte("data")}
		}
		data := aggregateAll(t, recs).Data
		var count int
		fn := func(sub int, r Record) bool { count += len(r.Data); return true }
		Deaggregate(data, fn)
		if raceEnabled && n > smallTable {
			continue // the pooled table: sync.Pool drops items under the race detector
		}
		if a := testing.AllocsPerRun(50, func() { Deaggregate(data, fn) }); a != 0 {
			t.Errorf("%d user records, %d distinct keys: %v allocations, want 0", n, n, a)
		}
	}
}
