package kinesis

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
)

// BenchmarkKinesisAPI drives PutRecords and GetRecords of 500 x 100 B
// through the unmodified Go SDK against sluice's Handler and, as the
// baseline measured in the same run, against a stub handler that reads the
// request and answers with a response encoded in advance. The ratio of
// their records/s is what the server costs next to the client (both run in
// this process, on the same cores). sluice runs on a fresh engine with no
// quotas, acknowledging after fdatasync (fsync=always) or without syncing
// (fsync=none), with 1 client calling in a loop or 8 calling at once (the
// engine's group commit then shares one fdatasync among concurrent calls).
func BenchmarkKinesisAPI(b *testing.B) {
	const records, size = 500, 100
	entries := make([]sdktypes.PutRecordsRequestEntry, records)
	for i := range entries {
		data := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		entries[i] = sdktypes.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String("key-" + strconv.Itoa(i))}
	}
	stub := newStubKinesis(b, records, size)
	for _, clients := range []int{1, 8} {
		c := "/clients=" + strconv.Itoa(clients)
		b.Run("op=PutRecords"+c+"/server=stub", func(b *testing.B) {
			benchAPIPutRecords(b, stub.URL, entries, clients)
		})
		for _, d := range []engine.Durability{engine.Always, engine.None} {
			b.Run("op=PutRecords"+c+"/server=sluice/fsync="+d.String(), func(b *testing.B) {
				url, _ := benchSluice(b, d)
				benchAPIPutRecords(b, url, entries, clients)
			})
		}
		b.Run("op=GetRecords"+c+"/server=stub", func(b *testing.B) {
			benchAPIGetRecords(b, stub.URL, "stub", records, clients)
		})
		b.Run("op=GetRecords"+c+"/server=sluice", func(b *testing.B) {
			url, eng := benchSluice(b, engine.None)
			prefill(b, eng, "bench", 100_000, size)
			benchAPIGetRecords(b, url, "bench", records, clients)
		})
	}
}

// benchSluice serves a Handler on a fresh engine with stream "bench" (1 shard).
func benchSluice(b *testing.B, d engine.Durability) (string, *engine.Engine) {
	b.Helper()
	q := ratelimit.Unlimited
	eng, err := engine.Open(engine.Options{Dir: b.TempDir(), Quotas: &q, Durability: d, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.CreateStream(engine.CreateStreamInput{Name: "bench", ShardCount: 1}); err != nil {
		b.Fatal(err)
	}
	h, err := NewHandler(eng, Options{IteratorKey: NewIteratorKey(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(func() {
		srv.Close()
		eng.Close()
	})
	return srv.URL, eng
}

// prefill stores n records of size bytes in a stream through the engine.
func prefill(b *testing.B, eng *engine.Engine, stream string, n, size int) {
	b.Helper()
	recs := make([]engine.PutRecord, engine.MaxPutRecords)
	for i := range recs {
		recs[i] = engine.PutRecord{Key: []byte("key-" + strconv.Itoa(i)), Data: bytes.Repeat([]byte{'x'}, size)}
	}
	results := make([]engine.PutResult, len(recs))
	for done := 0; done < n; done += len(recs) {
		if _, err := eng.PutRecords(stream, recs, results); err != nil {
			b.Fatal(err)
		}
	}
}

// benchClient is the SDK client of the benchmarks, the same for both
// servers: keep-alive connections, request bodies handed over as copies
// (see sdkClient).
func benchClient(url string, conns int) *sdk.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	return sdkClient(url, &http.Client{Transport: copyBodyTransport{tr}})
}

// runClients runs b.N calls of call spread over clients goroutines, records
// each call's latency in µs, and reports records/s and latency percentiles.
func runClients(b *testing.B, clients, records int, call func(client int, lat *hdrhistogram.Histogram)) {
	hists := make([]*hdrhistogram.Histogram, clients)
	for i := range hists {
		hists[i] = hdrhistogram.New(1, 10_000_000, 3)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				call(i, hists[i])
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	all := hists[0]
	for _, h := range hists[1:] {
		all.Merge(h)
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(all.ValueAtQuantile(50)), "p50-µs")
	b.ReportMetric(float64(all.ValueAtQuantile(99)), "p99-µs")
}

func benchAPIPutRecords(b *testing.B, url string, entries []sdktypes.PutRecordsRequestEntry, clients int) {
	c := benchClient(url, clients)
	in := &sdk.PutRecordsInput{StreamName: aws.String("bench"), Records: entries}
	if _, err := c.PutRecords(bg, in); err != nil { // warm a connection
		b.Fatal(err)
	}
	b.SetBytes(int64(len(entries) * len(entries[0].Data)))
	runClients(b, clients, len(entries), func(_ int, lat *hdrhistogram.Histogram) {
		t0 := time.Now()
		out, err := c.PutRecords(bg, in)
		if err != nil {
			b.Error(err)
			return
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 || len(out.Records) != len(entries) {
			b.Errorf("%d of %d entries failed", aws.ToInt32(out.FailedRecordCount), len(out.Records))
		}
		_ = lat.RecordValue(time.Since(t0).Microseconds())
	})
}

func benchAPIGetRecords(b *testing.B, url, stream string, records, clients int) {
	c := benchClient(url, clients)
	start := func() *string {
		out, err := c.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"),
			ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			b.Fatal(err)
		}
		return out.ShardIterator
	}
	its := make([]*string, clients)
	for i := range its {
		its[i] = start()
	}
	b.SetBytes(int64(records * 100))
	runClients(b, clients, records, func(i int, lat *hdrhistogram.Histogram) {
		t0 := time.Now()
		out, err := c.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: its[i], Limit: aws.Int32(int32(records))})
		if err != nil {
			b.Error(err)
			return
		}
		_ = lat.RecordValue(time.Since(t0).Microseconds())
		if len(out.Records) != records {
			// The prefilled shard is drained (a few calls in a run, each
			// counted as a call of records): start over.
			its[i] = start()
			return
		}
		its[i] = out.NextShardIterator
	})
}

// newStubKinesis serves pre-encoded PutRecords and GetRecords responses of
// the benchmark's shape and GetShardIterator, reading each request body and
// doing nothing else: the baseline of what the client costs alone.
func newStubKinesis(b *testing.B, records, size int) *httptest.Server {
	b.Helper()
	var pw PutRecordsWriter
	pw.Begin(nil, FormatJSON)
	var rw RecordsWriter
	rw.Begin(nil, FormatJSON)
	data := bytes.Repeat([]byte{'x'}, size)
	arrival := TimestampFromTime(time.Now())
	for i := range records {
		// Sequence numbers as long as sluice's (38 digits).
		seq := []byte(fmt.Sprintf("%038d", 31415926535897932+i))
		pw.Success(seq, "shardId-000000000000")
		rw.Append(&RecordView{SequenceNumber: seq, Arrival: arrival, PartitionKey: []byte("key-" + strconv.Itoa(i)), Data: data, EncryptionType: EncryptionTypeNone})
	}
	putBody := pw.Finish(EncryptionTypeNone)
	iter := base64Iterator(b)
	getBody := rw.FinishGetRecords(iter, 0, nil)
	iterBody := []byte(`{"ShardIterator":"` + iter + `"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		var body []byte
		switch r.Header.Get("X-Amz-Target") {
		case TargetPrefix + "PutRecords":
			body = putBody
		case TargetPrefix + "GetRecords":
			body = getBody
		case TargetPrefix + "GetShardIterator":
			body = iterBody
		default:
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		writeOK(w, FormatJSON, body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// base64Iterator returns a shard iterator of the length sluice issues.
func base64Iterator(b *testing.B) string {
	c, err := NewIteratorCodec(IteratorOptions{Key: NewIteratorKey()})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := c.Encode(IteratorPosition{StreamName: "bench", ShardID: "shardId-000000000000", Incarnation: 1, Sequence: 1})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}
