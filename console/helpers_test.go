package console

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
)

// clock is a settable clock for sessions and samples.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Test users: an administrator, and a reader who may describe, list and
// read every stream but change nothing.
const (
	adminKey     = "AKIACONSOLEADMIN0001"
	adminSecret  = "admin-secret-0123456789"
	readerKey    = "AKIACONSOLEREADER001"
	readerSecret = "reader-secret-0123456789"
)

const usersFile = `{"account": "123456789012", "users": [
 {"name": "admin", "access_key_id": "` + adminKey + `", "secret_access_key": "` + adminSecret + `",
  "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}},
 {"name": "reader", "access_key_id": "` + readerKey + `", "secret_access_key": "` + readerSecret + `",
  "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
   "Action": ["kinesis:List*", "kinesis:Describe*", "kinesis:GetShardIterator", "kinesis:GetRecords"], "Resource": "*"}]}}
]}`

type fixture struct {
	t     *testing.T
	eng   *engine.Engine
	con   *Console
	srv   *httptest.Server
	clock *clock
	users *auth.Store
	audit string // the audit log's path
	alog  *auth.Audit
}

// newFixture starts an engine and a console over it on an httptest server;
// withAuth loads the test users. The sampler's ticker is set far out:
// tests take samples themselves.
func newFixture(t *testing.T, withAuth bool) *fixture {
	t.Helper()
	dir := t.TempDir()
	eng, err := engine.Open(engine.Options{Dir: filepath.Join(dir, "data"), Durability: api.None, Quotas: &ratelimit.Unlimited,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, eng: eng, clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	opts := Options{Engine: eng, SampleEvery: time.Hour, Now: f.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if withAuth {
		path := filepath.Join(dir, "users.json")
		if err := os.WriteFile(path, []byte(usersFile), 0o600); err != nil {
			t.Fatal(err)
		}
		if f.users, err = auth.Open(path); err != nil {
			t.Fatal(err)
		}
		f.audit = filepath.Join(dir, "audit.log")
		a, err := auth.OpenAudit(f.audit)
		if err != nil {
			t.Fatal(err)
		}
		f.alog = a
		opts.Auth, opts.Audit, opts.Account = f.users, a, "123456789012"
	}
	if f.con, err = New(opts); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix, f.con)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		f.con.Close()
		eng.Close()
		f.alog.Close()
	})
	return f
}

// client is a browser-like caller: a cookie jar and the CSRF token of its
// session.
type client struct {
	f    *fixture
	hc   *http.Client
	csrf string
}

func (f *fixture) client() *client {
	jar, _ := cookiejar.New(nil)
	c := &client{f: f, hc: &http.Client{Jar: jar}}
	var s sessionInfo
	if st := c.do("GET", "/session", nil, &s); st != 200 {
		f.t.Fatalf("GET /session: %d", st)
	}
	c.csrf = s.CSRF
	return c
}

// login signs the client in and keeps the session's CSRF token.
func (c *client) login(key, secret string) {
	c.f.t.Helper()
	var s sessionInfo
	if st := c.do("POST", "/login", loginInput{AccessKeyID: key, SecretAccessKey: secret}, &s); st != 200 {
		c.f.t.Fatalf("sign in as %s: HTTP %d", key, st)
	}
	c.csrf = s.CSRF
}

// do calls the API with the client's cookies and CSRF token, decodes a 200
// answer into out (or an error answer into an *apiError out), and returns
// the status.
func (c *client) do(method, path string, body, out any) int {
	c.f.t.Helper()
	return c.doWith(method, path, body, out, map[string]string{csrfHeader: c.csrf})
}

func (c *client) doWith(method, path string, body, out any, hdr map[string]string) int {
	c.f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.f.srv.URL+"/console/api"+path, rd)
	if err != nil {
		c.f.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		_, isErr := out.(*apiError)
		if (res.StatusCode == 200) != isErr {
			if err := json.Unmarshal(b, out); err != nil {
				c.f.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
			}
		}
	}
	return res.StatusCode
}

// put stores records with the given keys in a stream and returns their
// results.
func (f *fixture) put(stream string, keys ...string) []api.PutResult {
	f.t.Helper()
	recs := make([]api.PutRecord, len(keys))
	for i, k := range keys {
		recs[i] = api.PutRecord{Key: []byte(k), Data: []byte(`{"key":"` + k + `","n":` + strings.Repeat("1", i%3+1) + `}`)}
	}
	res := make([]api.PutResult, len(recs))
	failed, err := f.eng.PutRecords(stream, recs, res)
	if err != nil || failed != 0 {
		f.t.Fatalf("put %d records: %d failed, %v %v", len(recs), failed, err, res)
	}
	return res
}

func (f *fixture) create(stream string, shards int) {
	f.t.Helper()
	if _, err := f.eng.CreateStream(api.CreateStreamInput{Name: stream, ShardCount: shards}); err != nil {
		f.t.Fatal(err)
	}
}
