package console

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
)

// BenchmarkStreamsAPI measures GET /console/api/streams, the streams page's
// one request, at 1,000 streams (the server's default cap), against the
// engine's own listing and description of the same streams in the same run
// (engine-describe), which is the floor of what the API can cost.
func BenchmarkStreamsAPI(b *testing.B) {
	const n = 1000
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.Open(engine.Options{Dir: filepath.Join(b.TempDir(), "data"), Durability: api.None, Quotas: &ratelimit.Unlimited, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	for i := range n {
		if _, err := eng.CreateStream(api.CreateStreamInput{Name: fmt.Sprintf("stream-%04d", i), ShardCount: 1}); err != nil {
			b.Fatal(err)
		}
	}
	c, err := New(Options{Engine: eng, SampleEvery: time.Hour, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.hist.sample(eng, time.Now())

	b.Run(fmt.Sprintf("streams=%d/engine-describe", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, name := range eng.ListStreams() {
				if _, err := eng.DescribeStream(name); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run(fmt.Sprintf("streams=%d/api", n), func(b *testing.B) {
		b.ReportAllocs()
		var size int
		for b.Loop() {
			rec := httptest.NewRecorder()
			c.ServeHTTP(rec, httptest.NewRequest("GET", "/console/api/streams", nil))
			if rec.Code != 200 {
				b.Fatalf("HTTP %d", rec.Code)
			}
			size = rec.Body.Len()
		}
		b.SetBytes(int64(size))
	})
}
