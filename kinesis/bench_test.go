package kinesis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// benchSweep is the record shapes of the codec benchmarks: the issue's
// 500 x 100 B case, and 500 x 1 KiB for a byte-bound comparison.
var benchSweep = []struct{ records, size int }{{500, 100}, {500, 1024}}

func reportRecords(b *testing.B, n int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodePutRecordsJSON decodes a PutRecords body with the
// hand-written decoder, against encoding/json on the same body.
func BenchmarkDecodePutRecordsJSON(b *testing.B) {
	benchDecodePutRecords(b, FormatJSON, "encoding_json", json.Unmarshal)
}

// BenchmarkDecodePutRecordsCBOR decodes a Java-style CBOR PutRecords body
// with the hand-written decoder, against fxamacker/cbor on the same body.
func BenchmarkDecodePutRecordsCBOR(b *testing.B) {
	benchDecodePutRecords(b, FormatCBOR, "fxamacker", cborDecMode.Unmarshal)
}

// benchDecodePutRecords decodes the bodies of benchSweep in format f with
// the Decoder, and with the reflective decoder named baseline.
func benchDecodePutRecords(b *testing.B, f Format, baseline string, unmarshal func([]byte, any) error) {
	for _, s := range benchSweep {
		body := putRecordsBody(b, f, s.records, s.size)
		name := fmt.Sprintf("records=%d/size=%dB", s.records, s.size)
		b.Run(name+"/decoder", func(b *testing.B) {
			var d Decoder
			var in PutRecordsInput
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(f, body, &in); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, s.records)
		})
		b.Run(name+"/baseline="+baseline, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var in PutRecordsInput
				if err := unmarshal(body, &in); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, s.records)
		})
	}
}

// benchGetRecords returns a GetRecords response of n records of size bytes,
// in the struct form and in the engine's form.
func benchGetRecords(n, size int) (*GetRecordsOutput, []RecordView) {
	views := benchRecordViews(n, size)
	out := &GetRecordsOutput{NextShardIterator: "AAAAAAAAAAE" + string(bytes.Repeat([]byte("x"), 120)), MillisBehindLatest: 0}
	for i := range views {
		v := &views[i]
		out.Records = append(out.Records, Record{SequenceNumber: string(v.SequenceNumber), ApproximateArrivalTimestamp: v.Arrival,
			Data: v.Data, PartitionKey: string(v.PartitionKey), EncryptionType: v.EncryptionType})
	}
	return out, views
}

// BenchmarkEncodeGetRecordsJSON encodes a GetRecords response: with the
// streaming RecordsWriter (as the handler will, from engine records), through
// AppendResponse from the struct form, and with encoding/json as the baseline.
func BenchmarkEncodeGetRecordsJSON(b *testing.B) {
	benchEncodeGetRecords(b, FormatJSON)
}

// BenchmarkEncodeGetRecordsCBOR is BenchmarkEncodeGetRecordsJSON in CBOR,
// against fxamacker/cbor.
func BenchmarkEncodeGetRecordsCBOR(b *testing.B) {
	benchEncodeGetRecords(b, FormatCBOR)
}

func benchEncodeGetRecords(b *testing.B, f Format) {
	for _, s := range benchSweep {
		out, views := benchGetRecords(s.records, s.size)
		name := fmt.Sprintf("records=%d/size=%dB", s.records, s.size)
		b.Run(name+"/writer", func(b *testing.B) {
			var w RecordsWriter
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				w.Begin(buf[:0], f)
				for i := range views {
					w.Append(&views[i])
				}
				buf = w.FinishGetRecords(out.NextShardIterator, 0, nil)
			}
			b.SetBytes(int64(len(buf)))
			reportRecords(b, s.records)
		})
		b.Run(name+"/struct", func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = AppendResponse(buf[:0], f, out); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
			reportRecords(b, s.records)
		})
		base := "baseline=encoding_json"
		if f == FormatCBOR {
			base = "baseline=fxamacker"
		}
		b.Run(name+"/"+base, func(b *testing.B) {
			var buf bytes.Buffer
			enc := jsonEncoderFor(&buf)
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if f == FormatCBOR {
					body, err := cborEncMode.Marshal(out)
					if err != nil {
						b.Fatal(err)
					}
					buf.Write(body)
				} else if err := enc.Encode(out); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
			reportRecords(b, s.records)
		})
	}
}

// BenchmarkEventStreamSubscribeToShardEvent frames a 500-record event.
func BenchmarkEventStreamSubscribeToShardEvent(b *testing.B) {
	views := benchRecordViews(500, 100)
	var e EventStreamEncoder
	var n int
	b.ReportAllocs()
	for b.Loop() {
		w := e.BeginSubscribeToShardEvent(FormatJSON)
		for i := range views {
			w.Append(&views[i])
		}
		n = len(e.FinishSubscribeToShardEvent("12345", 0, nil))
	}
	b.SetBytes(int64(n))
	reportRecords(b, 500)
}

// BenchmarkIteratorCodec issues and checks one shard iterator (one of each
// per GetRecords call).
func BenchmarkIteratorCodec(b *testing.B) {
	c, err := NewIteratorCodec(IteratorOptions{Key: NewIteratorKey(), Now: func() time.Time { return time.UnixMilli(1700000000000) }})
	if err != nil {
		b.Fatal(err)
	}
	p := IteratorPosition{StreamName: "orders", ShardID: "shardId-000000000000", Incarnation: 1, Sequence: 12345}
	b.ReportAllocs()
	for b.Loop() {
		tok, err := c.Encode(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decode(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidatePutRecords measures the constraint check of a valid
// 500-record PutRecords from the table (per call).
func BenchmarkValidatePutRecords(b *testing.B) {
	in := PutRecordsInput{StreamName: "orders", Records: make([]PutRecordsRequestEntry, 500)}
	present := make([]uint8, 500)
	for i := range in.Records {
		in.Records[i] = PutRecordsRequestEntry{Data: make([]byte, 100), PartitionKey: "partition-key-" + strconv.Itoa(i)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := validateRecords(&in, 0, present); err != nil {
			b.Fatal(err)
		}
	}
}
