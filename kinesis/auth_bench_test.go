package kinesis

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/awshttp"
	"github.com/sluicedb/sluice/ratelimit"
)

// BenchmarkKinesisAPIAuth measures what authentication costs: durable
// PutRecords of 500 x 100 B (fsync=always) through the unmodified Go SDK
// against two sluice handlers in this process, one with Options.Auth set
// (SigV4 verification, then authorization of an admin allowed kinesis:*)
// and one without, both on one fresh engine and stream, so
// that they share its log and its fsyncs and differ only in the handler. The
// two are measured in alternating phases (authBenchPhase calls per client
// on one, then on the other; b.N calls on each in all), short so that the
// load of a shared machine falls on both alike; ns/op counts one call to
// each. The "on/off" metric is the ratio of their records/s.
func BenchmarkKinesisAPIAuth(b *testing.B) {
	const records, size = 500, 100
	entries := benchEntries(records, size)
	users, err := auth.ParseUsers([]byte(usersJSON))
	if err != nil {
		b.Fatal(err)
	}
	store := auth.NewStore(users)
	for _, clients := range []int{1, 8} {
		b.Run("op=PutRecords/clients="+strconv.Itoa(clients)+"/fsync=always", func(b *testing.B) {
			eng := benchAuthEngine(b)
			offURL, onURL := benchAuthServer(b, eng, nil), benchAuthServer(b, eng, store)
			b.SetBytes(int64(records * size))
			runOnOff(b, clients, records, [2]callFunc{
				authPutRecordsCall(b, offURL, entries, clients), authPutRecordsCall(b, onURL, entries, clients),
			})
		})
	}
}

// benchAuthEngine opens a fresh durable engine with stream "bench" (1 shard).
func benchAuthEngine(b *testing.B) *engine.Engine {
	b.Helper()
	q := ratelimit.Unlimited
	eng, err := engine.Open(engine.Options{Dir: b.TempDir(), Quotas: &q, Durability: api.Always, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	if _, err := eng.CreateStream(api.CreateStreamInput{Name: "bench", ShardCount: 1}); err != nil {
		b.Fatal(err)
	}
	return eng
}

// benchAuthServer serves a Handler on eng verifying signatures against
// store (nil: none) and returns its URL.
func benchAuthServer(b *testing.B, eng *engine.Engine, store *auth.Store) string {
	b.Helper()
	h, err := NewHandler(eng, Options{IteratorKey: NewIteratorKey(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: store})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close) // before the engine's Close: cleanups run last first
	return srv.URL
}

// authPutRecordsCall returns a call that puts entries through a client of
// url signing with the admin's key of usersJSON (a server that verifies
// nothing accepts it as well).
func authPutRecordsCall(b *testing.B, url string, entries []sdktypes.PutRecordsRequestEntry, clients int) callFunc {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = clients
	c := authClient(url, authKeyID, authSecret, &http.Client{Transport: awshttp.CopyBodyTransport{Next: tr}})
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

// authBenchPhase is how many calls each client makes on one server before
// the benchmark switches to the other: a verification costs a few percent
// of a call, less than the load of a shared machine varies over a longer
// phase.
const authBenchPhase = 2

// runOnOff makes b.N calls on each of two servers (0: verification off, 1:
// on) with clients goroutines, alternating between them in phases, and
// reports each one's records/s and median call latency, and their ratio.
func runOnOff(b *testing.B, clients, records int, calls [2]callFunc) {
	for i := range calls { // warm both: connections, heap, code paths
		for range 2 * benchPhase {
			calls[i](0)
		}
	}
	var (
		wall [2]time.Duration
		mu   sync.Mutex // guards lat
		lat  [2][]time.Duration
	)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(authBenchPhase*clients, b.N-done)
		for s := range calls {
			var next atomic.Int64
			var wg sync.WaitGroup
			t0 := time.Now()
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var mine []time.Duration
					for next.Add(1) <= int64(n) {
						t := time.Now()
						calls[s](c)
						mine = append(mine, time.Since(t))
					}
					mu.Lock()
					lat[s] = append(lat[s], mine...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			wall[s] += time.Since(t0)
		}
		done += n
	}
	b.StopTimer()
	var rate [2]float64
	for s, name := range [2]string{"off", "on"} {
		rate[s] = float64(records) * float64(b.N) / wall[s].Seconds()
		b.ReportMetric(rate[s], name+"-records/s")
		l := lat[s]
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		b.ReportMetric(float64(l[len(l)/2].Microseconds()), name+"-p50-µs")
	}
	b.ReportMetric(rate[1]/rate[0], "on/off")
}
