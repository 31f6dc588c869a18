package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// recordLine is a `get --output json` line as a consumer decodes it.
type recordLine struct {
	Shard       string    `json:"shard"`
	Sequence    string    `json:"sequence"`
	Subsequence *int      `json:"subsequence"`
	Arrival     time.Time `json:"arrival"`
	Key         string    `json:"key"`
	Data        *string   `json:"data"`
	DataBase64  *string   `json:"data_base64"`
}

// bytes returns the record's data from whichever field carries it.
func (l *recordLine) bytes(t *testing.T) []byte {
	t.Helper()
	switch {
	case l.Data != nil && l.DataBase64 == nil:
		return []byte(*l.Data)
	case l.DataBase64 != nil && l.Data == nil:
		b, err := base64.StdEncoding.DecodeString(*l.DataBase64)
		if err != nil {
			t.Fatalf("data_base64 %q: %v", *l.DataBase64, err)
		}
		return b
	}
	t.Fatalf("record line has data %v and data_base64 %v; want exactly one", l.Data, l.DataBase64)
	return nil
}

func decodeRecordLine(t *testing.T, line []byte) recordLine {
	t.Helper()
	var l recordLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		t.Fatalf("line %q is not a record object: %v", line, err)
	}
	return l
}

func TestAppendRecordJSON_RoundTripsData(t *testing.T) {
	arrival := time.Date(2024, 5, 1, 12, 30, 45, 123456789, time.FixedZone("x", 3600))
	cases := []struct {
		name   string
		data   []byte
		base64 bool
	}{
		{"text", []byte("hello, world"), false},
		{"escapes", []byte("quote \" backslash \\ newline \n tab \t nul \x00 bell \x07 del \x7f"), false},
		{"unicode", []byte("żółw 🐢 \u2028 line separator"), false},
		{"empty", []byte{}, false},
		{"binary", []byte{0xff, 0xfe, 0x00, 0x80, 'a'}, true},
		{"truncated utf8", []byte("ab\xe2\x82"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := client.Record{Seq: api.SeqNum{Incarnation: 9, Shard: 4, Seq: 1234}, Arrival: arrival, Key: []byte(`k"ey`), Data: c.data}
			line := appendRecordJSON(nil, &r, -1)
			if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
				t.Fatalf("line %q is not one JSON object and a newline", line)
			}
			l := decodeRecordLine(t, line)
			if got := l.bytes(t); !bytes.Equal(got, c.data) {
				t.Fatalf("data decodes to %q; want %q", got, c.data)
			}
			if (l.DataBase64 != nil) != c.base64 {
				t.Fatalf("data_base64 used: %v; want %v", l.DataBase64 != nil, c.base64)
			}
			if l.Shard != "shardId-000000000004" || l.Sequence != r.Seq.String() || l.Key != `k"ey` || !l.Arrival.Equal(arrival) {
				t.Fatalf("decoded %+v; want shard 4, sequence %s, key k\"ey, arrival %v", l, r.Seq, arrival)
			}
			if l.Subsequence != nil {
				t.Fatalf("line %q of a plain record has a subsequence", line)
			}
			if !strings.Contains(string(line), `"arrival":"2024-05-01T11:30:45.123456789Z"`) {
				t.Fatalf("line %q does not carry the arrival time in UTC with nanoseconds", line)
			}
		})
	}
}

func TestAppendRecordJSON_NoAllocations(t *testing.T) {
	r := client.Record{Seq: api.SeqNum{Incarnation: 1, Shard: 2, Seq: 3}, Arrival: time.Now(), Key: []byte("key"), Data: bytes.Repeat([]byte("data\n"), 40)}
	bin := r
	bin.Data = bytes.Repeat([]byte{0xff, 0}, 100)
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		buf = appendRecordJSON(buf[:0], &r, -1)
		buf = appendRecordJSON(buf[:0], &bin, 7)
	})
	if allocs != 0 {
		t.Fatalf("appendRecordJSON allocates %.1f times per record; want 0", allocs)
	}
}

func TestAppendShardID_MatchesEngine(t *testing.T) {
	for _, i := range []uint32{0, 7, 123456, 1<<32 - 1} {
		if got, want := string(appendShardID(nil, i)), api.ShardID(int(i)); got != want {
			t.Errorf("appendShardID(%d) = %q; want %q", i, got, want)
		}
	}
}

func TestPrinter_TextIsDataPerLine(t *testing.T) {
	var out bytes.Buffer
	p := newPrinter(&out, false)
	for _, d := range []string{"one", "", "three"} {
		if err := p.printSub(&client.Record{Data: []byte(d)}, -1); err != nil {
			t.Fatal(err)
		}
	}
	p.w.Flush()
	if out.String() != "one\n\nthree\n" {
		t.Fatalf("text output %q; want each record's data and a newline", out.String())
	}
}

// BenchmarkPrinter measures `sluice get` output per record: text and JSON
// lines, for text and binary data of two sizes. format=stdlib-json is the
// baseline: the same object through encoding/json.
func BenchmarkPrinter(b *testing.B) {
	for _, format := range []string{"text", "json", "stdlib-json"} {
		for _, size := range []struct {
			name string
			n    int
		}{{"100B", 100}, {"1KiB", 1024}} {
			for _, kind := range []string{"utf8", "binary"} {
				data := bytes.Repeat([]byte("abcdefghi\""), size.n/10+1)[:size.n]
				if kind == "binary" {
					for i := range data {
						data[i] = byte(i*7 + 0x80)
					}
				}
				r := client.Record{Seq: api.SeqNum{Incarnation: 3, Shard: 1, Seq: 99}, Arrival: time.Now(), Key: []byte("partition-key"), Data: data}
				b.Run("format="+format+"/size="+size.name+"/data="+kind, func(b *testing.B) {
					b.SetBytes(int64(size.n))
					b.ReportAllocs()
					if format == "stdlib-json" {
						enc := json.NewEncoder(io.Discard)
						for b.Loop() {
							l := recordLine{Shard: api.ShardID(int(r.Seq.Shard)), Sequence: r.Seq.String(), Arrival: r.Arrival.UTC(), Key: string(r.Key)}
							if utf8.Valid(r.Data) {
								d := string(r.Data)
								l.Data = &d
							} else {
								d := base64.StdEncoding.EncodeToString(r.Data)
								l.DataBase64 = &d
							}
							if err := enc.Encode(&l); err != nil {
								b.Fatal(err)
							}
						}
						return
					}
					p := newPrinter(io.Discard, format == "json")
					for b.Loop() {
						if err := p.printSub(&r, -1); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

func TestAppendRecordJSON_Subsequence(t *testing.T) {
	r := client.Record{Seq: api.SeqNum{Incarnation: 1, Shard: 2, Seq: 3}, Arrival: time.Unix(0, 0), Key: []byte("user"), Data: []byte("d")}
	line := appendRecordJSON(nil, &r, 12)
	l := decodeRecordLine(t, line)
	if l.Subsequence == nil || *l.Subsequence != 12 || l.Sequence != r.Seq.String() || l.Key != "user" {
		t.Fatalf("line %q: want sequence %s, subsequence 12, key user", line, r.Seq)
	}
	if !strings.Contains(string(line), `"sequence":"`+r.Seq.String()+`","subsequence":12,"arrival"`) {
		t.Fatalf("line %q: want \"subsequence\" right after \"sequence\", as a number", line)
	}
}
