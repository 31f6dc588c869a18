package kinesis

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
)

// BenchmarkPutRecordsAuth serves PutRecords of 500 x 100 B straight through
// ServeHTTP (no network, no signature checks, engines that do not sync) to
// two handlers in turn, one without authorization and one with it and the
// audit log on, each on its own engine; ns/op counts one call to each. The
// rate with authorization as a share of the rate without it is what judging
// the request against the user's policy and the stream's costs.
func BenchmarkPutRecordsAuth(b *testing.B) {
	us, err := auth.ParseUsers([]byte(`{"users": [{"name": "ingest", "access_key_id": "AKIAINGEST0000000001", "secret_access_key": "0123456789abcdef0123",
		"policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStream*", "kinesis:ListShards"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"}]}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	user := us.List()[0]
	var body strings.Builder
	body.WriteString(`{"StreamName":"orders-1","Records":[`)
	data := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 100))
	for i := range 500 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"Data":%q,"PartitionKey":"key-%d"}`, data, i)
	}
	body.WriteString(`]}`)
	payload := []byte(body.String())
	newEnv := func(on bool) *testEnv {
		env := newTestEnv(b, func(c *envConfig) {
			if !on {
				return
			}
			audit, err := auth.OpenAudit(filepath.Join(b.TempDir(), "audit.log"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { audit.Close() })
			c.opts.Auth, c.opts.Audit = auth.NewStore(us), audit
			c.hooks = func(h *Handler) { h.testHookUser = func(*http.Request) *auth.User { return user } }
		})
		if _, err := env.eng.CreateStream(api.CreateStreamInput{Name: "orders-1", ShardCount: 4}); err != nil {
			b.Fatal(err)
		}
		if err := env.eng.SetPolicy("orders-1", "", `{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "kinesis:DeleteStream", "Resource": "*"}]}`); err != nil {
			b.Fatal(err)
		}
		return env
	}
	envs := [2]*testEnv{newEnv(false), newEnv(true)}
	w := &discardWriter{h: http.Header{}}
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("X-Amz-Target", TargetPrefix+"PutRecords")
	r.Header.Set("Content-Type", ContentTypeJSON)
	r.Header.Set("Authorization", testAuthorization)
	r.Header.Set("X-Amz-Date", "20240101T000000Z")
	var spent [2]time.Duration
	b.SetBytes(2 * 500 * 100)
	b.ReportAllocs()
	for b.Loop() {
		for i, env := range envs {
			r.Body = readCloser{bytes.NewReader(payload)}
			r.ContentLength = int64(len(payload))
			w.status = 0
			start := time.Now()
			env.h.ServeHTTP(w, r)
			spent[i] += time.Since(start)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	}
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "ns/call-off")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), "ns/call-on")
	b.ReportMetric(100*float64(spent[0])/float64(spent[1]), "%rate-on/off")
}

// BenchmarkAllowStream is the judging BenchmarkPutRecordsAuth adds to each
// PutRecords call, alone: the stream's cached ARN and compiled policy, the
// engine's read of the policy document, and auth.Authorize on both
// policies.
func BenchmarkAllowStream(b *testing.B) {
	us, err := auth.ParseUsers([]byte(`{"users": [{"name": "ingest", "access_key_id": "AKIAINGEST0000000001", "secret_access_key": "0123456789abcdef0123",
		"policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStream*", "kinesis:ListShards"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"}]}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	env := newTestEnv(b, func(c *envConfig) { c.opts.Auth = auth.NewStore(us) })
	if _, err := env.eng.CreateStream(api.CreateStreamInput{Name: "orders-1", ShardCount: 1}); err != nil {
		b.Fatal(err)
	}
	if err := env.eng.SetPolicy("orders-1", "", `{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "kinesis:DeleteStream", "Resource": "*"}]}`); err != nil {
		b.Fatal(err)
	}
	st := &reqState{user: us.List()[0]}
	b.ReportAllocs()
	for b.Loop() {
		if err := env.h.allowStream(st, OpPutRecords, "orders-1"); err != nil {
			b.Fatal(err)
		}
	}
}
