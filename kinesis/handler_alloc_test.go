package kinesis

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
)

// discardWriter is a ResponseWriter that keeps the status and body length.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// serveAllocs returns the allocations of serving body for target, averaged over runs.
func serveAllocs(t *testing.T, h *Handler, target string, body func() []byte) float64 {
	t.Helper()
	w := &discardWriter{h: http.Header{}}
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("X-Amz-Target", TargetPrefix+target)
	r.Header.Set("Content-Type", ContentTypeJSON)
	r.Header.Set("Authorization", testAuthorization)
	r.Header.Set("X-Amz-Date", "20240101T000000Z")
	return testing.AllocsPerRun(50, func() {
		b := body()
		r.Body = readCloser{bytes.NewReader(b)}
		r.ContentLength = int64(len(b))
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			t.Fatalf("%s: status %d", target, w.status)
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// TestHandler_HotPathAllocationsDoNotGrowWithRecords checks that PutRecords
// and GetRecords allocate per call, not per record: 500 records cost the
// allocations of 10 (under -race, sync.Pool drops a share of what is put
// back, so the engine's pooled slices regrow now and then, in a few
// doublings: the bound stays far below one allocation per record).
func TestHandler_HotPathAllocationsDoNotGrowWithRecords(t *testing.T) {
	env := newTestEnv(t, nil)
	if _, err := env.eng.CreateStream(api.CreateStreamInput{Name: "a", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	putBody := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`{"StreamName":"a","Records":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"Data":"aGVsbG8gd29ybGQ=","PartitionKey":"key-%d"}`, i)
		}
		b.WriteString(`]}`)
		return []byte(b.String())
	}
	small, large := putBody(10), putBody(500)
	put10 := serveAllocs(t, env.h, "PutRecords", func() []byte { return small })
	put500 := serveAllocs(t, env.h, "PutRecords", func() []byte { return large })
	const slack = 40 // allocations; one per record would be 490
	if put500 > put10+slack {
		t.Errorf("PutRecords allocates %.0f times for 10 records and %.0f for 500", put10, put500)
	}

	get := func(limit int) float64 {
		pos, err := env.eng.GetIterator("a", "shardId-000000000000", api.IteratorSpec{Type: api.TrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := env.h.iters.Encode(IteratorPosition{StreamName: "a", ShardID: "shardId-000000000000", Incarnation: uint64(pos.Incarnation)})
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(fmt.Sprintf(`{"ShardIterator":%q,"Limit":%d}`, tok, limit))
		return serveAllocs(t, env.h, "GetRecords", func() []byte { return body })
	}
	get10, get500 := get(10), get(500)
	if get500 > get10+slack {
		t.Errorf("GetRecords allocates %.0f times for 10 records and %.0f for 500", get10, get500)
	}
	t.Logf("allocations per call: PutRecords %.0f (10 records) %.0f (500); GetRecords %.0f (10) %.0f (500)", put10, put500, get10, get500)
}
