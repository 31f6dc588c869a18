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

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/awshttp"
	"github.com/sluicedb/sluice/ratelimit"
)

// benchEntries returns n PutRecords entries of size bytes of data each,
// under distinct partition keys.
func benchEntries(n, size int) []sdktypes.PutRecordsRequestEntry {
	entries := make([]sdktypes.PutRecordsRequestEntry, n)
	for i := range entries {
		data := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		entries[i] = sdktypes.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String("key-" + strconv.Itoa(i))}
	}
	return entries
}

// BenchmarkKinesisAPI drives PutRecords and GetRecords of 500 x 100 B
// through the unmodified Go SDK against sluice's Handler and, as the
// baseline measured in the same run, against a stub handler that reads the
// request and answers with a response encoded in advance. Both servers run
// in this process, on the same cores as the client, so their ratio is what
// the server costs next to the client. The two are measured in alternating
// phases (20 calls per client on one, then on the other, b.N calls on each
// in all), so that drift in the machine's load falls on both alike; ns/op
// counts one call to each. sluice runs on a fresh engine with no quotas,
// acknowledging after fdatasync (fsync=always) or without syncing
// (fsync=none), with 1 client calling in a loop or 8 calling at once (the
// engine's group commit then shares one fdatasync among concurrent calls).
func BenchmarkKinesisAPI(b *testing.B) {
	const records, size = 500, 100
	entries := benchEntries(records, size)
	stub := newStubKinesis(b, records, size)
	for _, clients := range []int{1, 8} {
		c := "/clients=" + strconv.Itoa(clients)
		for _, d := range []api.Durability{api.Always, api.None} {
			b.Run("op=PutRecords"+c+"/fsync="+d.String(), func(b *testing.B) {
				url, _ := benchSluice(b, d)
				b.SetBytes(int64(records * size))
				runPaired(b, clients, records, [2]callFunc{
					putRecordsCall(b, stub.URL, entries, clients), putRecordsCall(b, url, entries, clients),
				})
			})
		}
		b.Run("op=GetRecords"+c, func(b *testing.B) {
			url, eng := benchSluice(b, api.None)
			prefill(b, eng, "bench", 100_000, size)
			b.SetBytes(int64(records * size))
			runPaired(b, clients, records, [2]callFunc{
				getRecordsCall(b, stub.URL, "stub", records, clients), getRecordsCall(b, url, "bench", records, clients),
			})
		})
	}
}

// benchSluice serves a Handler on a fresh engine with stream "bench" (1 shard).
func benchSluice(b *testing.B, d api.Durability) (string, *engine.Engine) {
	b.Helper()
	q := ratelimit.Unlimited
	eng, err := engine.Open(engine.Options{Dir: b.TempDir(), Quotas: &q, Durability: d, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.CreateStream(api.CreateStreamInput{Name: "bench", ShardCount: 1}); err != nil {
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
	recs := make([]api.PutRecord, api.MaxPutRecords)
	for i := range recs {
		recs[i] = api.PutRecord{Key: []byte("key-" + strconv.Itoa(i)), Data: bytes.Repeat([]byte{'x'}, size)}
	}
	results := make([]api.PutResult, len(recs))
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
	return sdkClient(url, &http.Client{Transport: awshttp.CopyBodyTransport{Next: tr}})
}

// callFunc makes one call as client number client.
type callFunc func(client int)

// benchPhase is how many calls each client makes on one server before the
// benchmark switches to the other.
const benchPhase = 20

// runPaired makes b.N calls on each of two servers (0: the stub, 1: sluice)
// with clients goroutines, alternating between them in phases, and reports
// each server's records/s and call latency percentiles, and their ratio.
func runPaired(b *testing.B, clients, records int, calls [2]callFunc) {
	for i := range calls { // warm both: connections, heap, code paths
		for range 2 * benchPhase {
			calls[i](0)
		}
	}
	var (
		wall [2]time.Duration
		lat  [2][]*hdrhistogram.Histogram
	)
	for s := range lat {
		for range clients {
			lat[s] = append(lat[s], hdrhistogram.New(1, 10_000_000, 3))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(benchPhase*clients, b.N-done)
		for s := range calls {
			var next atomic.Int64
			var wg sync.WaitGroup
			t0 := time.Now()
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(n) {
						t := time.Now()
						calls[s](c)
						_ = lat[s][c].RecordValue(time.Since(t).Microseconds())
					}
				}()
			}
			wg.Wait()
			wall[s] += time.Since(t0)
		}
		done += n
	}
	b.StopTimer()
	var rate [2]float64
	for s, name := range [2]string{"stub", "sluice"} {
		all := lat[s][0]
		for _, h := range lat[s][1:] {
			all.Merge(h)
		}
		rate[s] = float64(records) * float64(b.N) / wall[s].Seconds()
		b.ReportMetric(rate[s], name+"-records/s")
		b.ReportMetric(float64(all.ValueAtQuantile(50)), name+"-p50-µs")
		b.ReportMetric(float64(all.ValueAtQuantile(99)), name+"-p99-µs")
	}
	b.ReportMetric(rate[1]/rate[0], "sluice/stub")
}

// putRecordsCall returns a call that puts entries through a client of url.
func putRecordsCall(b *testing.B, url string, entries []sdktypes.PutRecordsRequestEntry, clients int) callFunc {
	c := benchClient(url, clients)
	in := &sdk.PutRecordsInput{StreamName: aws.String("bench"), Records: entries}
	return func(int) {
		out, err := c.PutRecords(bg, in)
		if err != nil {
			b.Error(err)
			return
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 || len(out.Records) != len(entries) {
			b.Errorf("%d of %d entries failed", aws.ToInt32(out.FailedRecordCount), len(out.Records))
		}
	}
}

// getRecordsCall returns a call that reads records from the stream's shard
// through a client of url, each client following its own iterators from
// TRIM_HORIZON (and starting over when the shard is drained).
func getRecordsCall(b *testing.B, url, stream string, records, clients int) callFunc {
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
	return func(i int) {
		out, err := c.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: its[i], Limit: aws.Int32(int32(records))})
		if err != nil {
			b.Error(err)
			return
		}
		if len(out.Records) != records {
			its[i] = start() // drained: a few calls of a run
			return
		}
		its[i] = out.NextShardIterator
	}
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
