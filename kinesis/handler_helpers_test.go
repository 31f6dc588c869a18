package kinesis

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/awshttp"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/ratelimit"
)

// testClock is a settable clock for Options.Now and engine.Options.Now.
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1700000000, 0).UTC()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testEnv is a Handler on a fresh engine behind an httptest server that
// speaks HTTP/1.1 and h2c, with an unmodified SDK client pointed at it.
type testEnv struct {
	eng    *engine.Engine
	h      *Handler
	srv    *httptest.Server
	client *sdk.Client
	clock  *testClock // the handler's clock
}

// envConfig adjusts a test environment before it starts.
type envConfig struct {
	quotas     ratelimit.Limits
	engClock   func() time.Time // nil: the system clock
	shareClock bool             // the engine runs on the handler's clock
	opts       Options
	durability api.Durability
	hooks      func(*Handler) // sets test hooks before the server starts
}

// testAdminKeyID and testAdminSecret are the key of the test
// environment's user, who may do everything: by default a test environment
// verifies every request's signature and authorizes it, so that the whole
// suite runs the way a server started with --auth does.
const (
	testAdminKeyID  = "AKIASLUICETEST000001"
	testAdminSecret = "sluice-test-secret-000001"
)

// testAdminUsers is the users file of test environments.
var testAdminUsers = sync.OnceValue(func() *auth.Users {
	u, err := auth.ParseUsers([]byte(`{"account": "000000000000", "users": [{"name": "admin",
	  "access_key_id": "` + testAdminKeyID + `", "secret_access_key": "` + testAdminSecret + `",
	  "policy": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}]}`))
	if err != nil {
		panic(err)
	}
	return u
})

// unverified is the envConfig change of tests that send hand-made requests
// (signed with made-up keys, or not at all): the handler checks the form of
// their SigV4 authentication only.
func unverified(c *envConfig) { c.opts.Auth = nil }

// newTestEnv starts a test environment. Unless mod sets opts.Auth to nil
// (for tests that send hand-made requests), the handler verifies SigV4
// signatures against testAdminUsers and authorizes every request.
func newTestEnv(t testing.TB, mod func(*envConfig)) *testEnv {
	t.Helper()
	cfg := envConfig{quotas: ratelimit.Unlimited, durability: api.None}
	clock := newTestClock()
	cfg.opts = Options{IteratorKey: bytes.Repeat([]byte{7}, 32), Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Auth: auth.NewStore(testAdminUsers())}
	if mod != nil {
		mod(&cfg)
	}
	if cfg.shareClock {
		cfg.engClock = clock.Now
	}
	q := cfg.quotas
	keys, err := kms.Open(t.TempDir(), kms.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(engine.Options{
		Dir: t.TempDir(), Quotas: &q, Durability: cfg.durability, RetentionInterval: time.Hour,
		Now: cfg.engClock, Logger: cfg.opts.Logger, Keys: keys,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(eng, cfg.opts)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.hooks != nil {
		cfg.hooks(h)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Config.RegisterOnShutdown(h.Close)
	srv.Start()
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		eng.Close()
	})
	env := &testEnv{eng: eng, h: h, srv: srv, clock: clock}
	env.client = env.sdkClient(nil)
	return env
}

// sdkClient returns an unmodified SDK client for the environment (see the
// function sdkClient) that signs with the test user's key at the
// environment's clock, so that signatures verify whatever the test does to
// the clock.
func (env *testEnv) sdkClient(hc *http.Client) *sdk.Client {
	return newSDKClient(env.srv.URL, hc, func(o *sdk.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(testAdminKeyID, testAdminSecret, "")
		o.HTTPSignerV4 = clockSigner{signer: v4.NewSigner(), now: env.clock.Now}
	})
}

// clockSigner is the SDK's SigV4 signer signing at a test clock's time.
type clockSigner struct {
	signer *v4.Signer
	now    func() time.Time
}

func (s clockSigner) SignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions)) error {
	return s.signer.SignHTTP(ctx, creds, r, payloadHash, service, region, s.now(), optFns...)
}

// sdkClient returns an unmodified SDK client for url without retries
// (throttling must be seen, not retried away). With hc nil, it sends over a
// default transport that hands net/http a copy of each request body
// (awshttp.CopyBodyTransport): smithy-go v1.28.9 closes its request body wrapper as
// soon as the response headers arrive, after which the wrapper's WriteTo
// returns io.EOF; when net/http makes its final read of the body after that
// (it does for bodies it sent with ReadFrom, once the server has answered),
// it takes the EOF for a write error and closes the connection under the
// response being read: "use of closed network connection" on about 1% of
// calls with responses over a few KiB, against any server that answers
// within microseconds (a do-nothing stub as well as sluice).
func sdkClient(url string, hc *http.Client) *sdk.Client { return newSDKClient(url, hc) }

func newSDKClient(url string, hc *http.Client, optFns ...func(*sdk.Options)) *sdk.Client {
	if hc == nil {
		hc = &http.Client{Transport: awshttp.CopyBodyTransport{Next: http.DefaultTransport.(*http.Transport).Clone()}}
	}
	return sdk.New(sdk.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSLUICETEST", "secret", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   hc,
	}, optFns...)
}

var bg = context.Background()

// createStream creates a provisioned stream through the SDK and waits for it.
// newOneStreamEnv starts a test server holding one stream "s" of one shard
// and returns its client and the stream's ARN.
func newOneStreamEnv(t testing.TB) (*sdk.Client, string) {
	t.Helper()
	env := newTestEnv(t, nil)
	env.createStream(t, "s", 1)
	return env.client, streamARN("s")
}

func (env *testEnv) createStream(t testing.TB, name string, shards int32) {
	t.Helper()
	if _, err := env.client.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatalf("CreateStream %s: %v", name, err)
	}
	w := sdk.NewStreamExistsWaiter(env.client, func(o *sdk.StreamExistsWaiterOptions) { o.MinDelay = 10 * time.Millisecond })
	if err := w.Wait(bg, &sdk.DescribeStreamInput{StreamName: aws.String(name)}, 10*time.Second); err != nil {
		t.Fatalf("StreamExists %s: %v", name, err)
	}
}

// arn returns the stream ARN the default scope gives name.
func streamARN(name string) string { return DefaultARNScope().StreamARN(name) }

// iterator returns a shard iterator through the SDK.
func (env *testEnv) iterator(t testing.TB, stream, shard string, typ sdktypes.ShardIteratorType, seq string) string {
	t.Helper()
	in := &sdk.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: typ}
	if seq != "" {
		in.StartingSequenceNumber = aws.String(seq)
	}
	out, err := env.client.GetShardIterator(bg, in)
	if err != nil {
		t.Fatalf("GetShardIterator %s %s %s: %v", stream, shard, typ, err)
	}
	return aws.ToString(out.ShardIterator)
}

// drain reads a shard from it with GetRecords until a call returns no
// records and returns what it read and the last response.
func (env *testEnv) drain(t testing.TB, it string) ([]sdktypes.Record, *sdk.GetRecordsOutput) {
	t.Helper()
	var recs []sdktypes.Record
	for {
		out, err := env.client.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		recs = append(recs, out.Records...)
		if len(out.Records) == 0 || out.NextShardIterator == nil {
			return recs, out
		}
		it = aws.ToString(out.NextShardIterator)
	}
}

// wantAPIError checks that err is the SDK's error for code and, when msg is
// not empty, that its message contains msg.
func wantAPIError(t testing.TB, err error, code ErrorCode, msg string) {
	t.Helper()
	var ae interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T); want %s", err, err, code)
	}
	if ae.ErrorCode() != string(code) {
		t.Fatalf("error code %s (%s); want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	if msg != "" && !bytes.Contains([]byte(ae.ErrorMessage()), []byte(msg)) {
		t.Fatalf("%s message %q lacks %q", code, ae.ErrorMessage(), msg)
	}
}

// errorsAs is errors.As (named so that tests read as the SDK's docs do).
func errorsAs(err error, target any) bool { return errors.As(err, target) }
