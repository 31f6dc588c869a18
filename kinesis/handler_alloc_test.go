package kinesis

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
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
	// The least of three averages: a garbage collection (or, under the race
	// detector, sync.Pool dropping what it is given) in one of them adds
	// allocations that are not the path's.
	least := math.Inf(1)
	for range 3 {
		least = math.Min(least, testing.AllocsPerRun(50, func() {
			b := body()
			r.Body = readCloser{bytes.NewReader(b)}
			r.ContentLength = int64(len(b))
			w.status = 0
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				t.Fatalf("%s: status %d", target, w.status)
			}
		}))
	}
	return least
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// TestHandler_HotPathAllocationsDoNotGrowWithRecords checks that PutRecords
// and GetRecords allocate per call, not per record: 500 records cost the
// allocations of 10 (under -race, sync.Pool drops a share of what is put
// back, so the engine's pooled slices regrow now and then, in a few
// doublings: the bound stays far below one allocation per record).
func TestHandler_HotPathAllocationsDoNotGrowWithRecords(t *testing.T) {
	env := newTestEnv(t, unverified)
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

// TestHandler_HotPathAllocationsWithAuth: authorizing PutRecords, PutRecord
// and GetRecords (and auditing the puts) costs no allocation on top of the
// calls without authorization, for 10 records or 500.
func TestHandler_HotPathAllocationsWithAuth(t *testing.T) { hotPathAllocationsWithAuth(t, false) }

// TestHandler_HotPathAllocationsWithAuthEncrypted: on a stream encrypted
// under a key of its own, judging the key permissions (kms:GenerateDataKey,
// kms:Decrypt) costs no allocation either.
func TestHandler_HotPathAllocationsWithAuthEncrypted(t *testing.T) {
	hotPathAllocationsWithAuth(t, true)
}

func hotPathAllocationsWithAuth(t *testing.T, encrypt bool) {
	us, err := auth.ParseUsers([]byte(`{"users": [{"name": "ingest", "access_key_id": "AKIAINGEST0000000001", "secret_access_key": "0123456789abcdef0123",
		"policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecord*", "kinesis:GetRecords"], "Resource": "arn:aws:kinesis:*:*:stream/a"},
			{"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "arn:aws:kms:*:*:key/*"}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	user := us.List()[0]
	audit, err := auth.OpenAudit(filepath.Join(t.TempDir(), "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	plain := newTestEnv(t, unverified)
	authed := newTestEnv(t, func(c *envConfig) {
		c.opts.Auth = auth.NewStore(us)
		c.opts.Audit = audit
		c.hooks = func(h *Handler) { h.testHookUser = func(*http.Request) *auth.User { return user } }
	})
	measure := func(env *testEnv) (put10, put500, putOne, get float64) {
		if _, err := env.eng.CreateStream(api.CreateStreamInput{Name: "a", ShardCount: 1}); err != nil {
			t.Fatal(err)
		}
		// The stream's resource policy is judged too.
		if err := env.eng.SetPolicy("a", "", `{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "kinesis:DeleteStream", "Resource": "*"}]}`); err != nil {
			t.Fatal(err)
		}
		if encrypt {
			key, err := env.eng.Keys().CreateKey("a")
			if err != nil {
				t.Fatal(err)
			}
			if err := env.eng.SetEncryption("a", "KMS", key.KeyID); err != nil {
				t.Fatal(err)
			}
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
		one := []byte(`{"StreamName":"a","Data":"aGVsbG8=","PartitionKey":"k"}`)
		put10 = serveAllocs(t, env.h, "PutRecords", func() []byte { return small })
		put500 = serveAllocs(t, env.h, "PutRecords", func() []byte { return large })
		putOne = serveAllocs(t, env.h, "PutRecord", func() []byte { return one })
		pos, err := env.eng.GetIterator("a", "shardId-000000000000", api.IteratorSpec{Type: api.TrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := env.h.iters.Encode(IteratorPosition{StreamName: "a", ShardID: "shardId-000000000000", Incarnation: uint64(pos.Incarnation)})
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(fmt.Sprintf(`{"ShardIterator":%q,"Limit":100}`, tok))
		get = serveAllocs(t, env.h, "GetRecords", func() []byte { return body })
		return put10, put500, putOne, get
	}
	p10, p500, p1, g := measure(plain)
	a10, a500, a1, ag := measure(authed)
	// The measured path does judge: another stream is refused.
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"StreamName":"b","Records":[{"Data":"aGk=","PartitionKey":"k"}]}`))
	r.Header.Set("X-Amz-Target", TargetPrefix+"PutRecords")
	r.Header.Set("Content-Type", ContentTypeJSON)
	r.Header.Set("Authorization", testAuthorization)
	r.Header.Set("X-Amz-Date", "20240101T000000Z")
	w := httptest.NewRecorder()
	authed.h.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "AccessDeniedException") {
		t.Fatalf("PutRecords to another stream: %d %s", w.Code, w.Body)
	}
	t.Logf("allocations per call without auth: PutRecords %.1f (10 records) %.1f (500), PutRecord %.1f, GetRecords %.1f", p10, p500, p1, g)
	t.Logf("allocations per call with auth:    PutRecords %.1f (10 records) %.1f (500), PutRecord %.1f, GetRecords %.1f", a10, a500, a1, ag)
	slack := 0.5 // AllocsPerRun averages; the engine's pools refill now and then
	if raceEnabled {
		slack = 4 // still far below one allocation per record
	}
	for _, c := range []struct {
		name        string
		plain, auth float64
	}{{"PutRecords of 10", p10, a10}, {"PutRecords of 500", p500, a500}, {"PutRecord", p1, a1}, {"GetRecords", g, ag}} {
		if c.auth > c.plain+slack {
			t.Errorf("%s allocates %.1f times with authorization, %.1f without", c.name, c.auth, c.plain)
		}
	}
}
