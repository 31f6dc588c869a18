package kinesis

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/internal/awshttp"
)

// The users of the signature tests.
const (
	authKeyID  = "AKIASLUICETEST000001"
	authSecret = "sluice-test-secret-0123456789abcdef"
	usersJSON  = `{"account": "123456789012", "users": [
		{"name": "admin", "access_key_id": "` + authKeyID + `", "secret_access_key": "` + authSecret + `",
		 "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}}]}`
)

// newSigEnv starts a test server that verifies signatures against store
// (the users of usersJSON when nil), on a clock that starts at the real
// time (SDK clients sign with it), and points env.client at it with the
// admin's credentials.
func newSigEnv(t testing.TB, store *auth.Store) (*testEnv, *testClock) {
	t.Helper()
	if store == nil {
		users, err := auth.ParseUsers([]byte(usersJSON))
		if err != nil {
			t.Fatal(err)
		}
		store = auth.NewStore(users)
	}
	clock := &testClock{t: time.Now()}
	env := newTestEnv(t, func(c *envConfig) {
		c.opts.Auth = store
		c.opts.Now = clock.Now
	})
	env.client = authClient(env.srv.URL, authKeyID, authSecret, nil)
	return env, clock
}

// authClient is sdkClient with the given credentials; hc nil sends through
// awshttp.CopyBodyTransport.
func authClient(url, keyID, secret string, hc *http.Client) *sdk.Client {
	if hc == nil {
		hc = &http.Client{Transport: awshttp.CopyBodyTransport{Next: http.DefaultTransport.(*http.Transport).Clone()}}
	}
	return sdk.New(sdk.Options{
		Region:       DefaultRegion,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   hc,
	})
}

// TestAuth_SDKWithCorrectCredentials runs data and control operations and a
// subscription through the unmodified SDK with verification on.
func TestAuth_SDKWithCorrectCredentials(t *testing.T) {
	env, _ := newSigEnv(t, nil)
	env.createStream(t, "s", 1) // CreateStream, DescribeStreamSummary
	if _, err := env.client.ListShards(bg, &sdk.ListShardsInput{StreamName: aws.String("s")}); err != nil {
		t.Fatalf("ListShards: %v", err)
	}
	carn := env.registerConsumer(t, "s", "app")
	shard := "shardId-000000000000"
	sub, err := authClient(env.srv.URL, authKeyID, authSecret, nil).SubscribeToShard(bg, &sdk.SubscribeToShardInput{
		ConsumerARN: aws.String(carn), ShardId: aws.String(shard),
		StartingPosition: &sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeTrimHorizon}})
	if err != nil {
		t.Fatalf("SubscribeToShard: %v", err)
	}
	stream := sub.GetStream()
	defer stream.Close()

	if _, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("one"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	out, err := env.client.PutRecords(bg, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []sdktypes.PutRecordsRequestEntry{
		{Data: []byte("two"), PartitionKey: aws.String("k")}, {Data: []byte("three"), PartitionKey: aws.String("k")}}})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v %+v", err, out)
	}
	recs, _ := env.drain(t, env.iterator(t, "s", shard, sdktypes.ShardIteratorTypeTrimHorizon, "")) // GetShardIterator, GetRecords
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Data))
	}
	if strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("GetRecords read %v", got)
	}
	got = got[:0]
	for len(got) < 3 {
		for _, r := range eventWithRecords(t, stream).Records {
			got = append(got, string(r.Data))
		}
	}
	if strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("the subscription pushed %v", got)
	}
}

// TestAuth_Refusals checks AWS's error for each way a signature fails, as
// the SDK reports it.
func TestAuth_Refusals(t *testing.T) {
	env, clock := newSigEnv(t, nil)
	list := func(c *sdk.Client) error {
		_, err := c.ListStreams(bg, &sdk.ListStreamsInput{})
		return err
	}
	if err := list(env.client); err != nil {
		t.Fatalf("the right credentials: %v", err)
	}
	t.Run("wrong secret", func(t *testing.T) {
		err := list(authClient(env.srv.URL, authKeyID, authSecret+"x", nil))
		wantAPIError(t, err, CodeInvalidSignature, "The request signature we calculated does not match the signature you provided. "+
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n"+
			"The Canonical String for this request should have been\n'POST\n/\n\n")
	})
	t.Run("unknown key", func(t *testing.T) {
		err := list(authClient(env.srv.URL, "AKIAUNKNOWN000000001", authSecret, nil))
		wantAPIError(t, err, CodeUnrecognizedClient, "The security token included in the request is invalid.")
	})
	t.Run("session token", func(t *testing.T) {
		c := sdk.New(sdk.Options{Region: DefaultRegion, BaseEndpoint: aws.String(env.srv.URL), Retryer: aws.NopRetryer{},
			Credentials: credentials.NewStaticCredentialsProvider(authKeyID, authSecret, "FQoGZXIvYXdzEJr//////////wEaDM")})
		wantAPIError(t, list(c), CodeUnrecognizedClient, "The security token included in the request is invalid.")
	})
	t.Run("other region", func(t *testing.T) {
		c := sdk.New(sdk.Options{Region: "eu-west-3", BaseEndpoint: aws.String(env.srv.URL), Retryer: aws.NopRetryer{},
			Credentials: credentials.NewStaticCredentialsProvider(authKeyID, authSecret, "")})
		wantAPIError(t, list(c), CodeInvalidSignature, "Credential should be scoped to a valid region, not 'eu-west-3'. ")
	})
	t.Run("client clock behind", func(t *testing.T) {
		clock.Advance(20 * time.Minute)
		defer clock.Advance(-20 * time.Minute)
		err := list(env.client)
		wantAPIError(t, err, CodeInvalidSignature, "")
		wantMessage(t, err, `^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$`)
	})
	t.Run("client clock ahead", func(t *testing.T) {
		clock.Advance(-20 * time.Minute)
		defer clock.Advance(20 * time.Minute)
		err := list(env.client)
		wantAPIError(t, err, CodeInvalidSignature, "")
		wantMessage(t, err, `^Signature not yet current: \d{8}T\d{6}Z is still later than \d{8}T\d{6}Z \(\d{8}T\d{6}Z \+ 15 min\.\)$`)
	})
	t.Run("tampered body", func(t *testing.T) {
		c := authClient(env.srv.URL, authKeyID, authSecret, &http.Client{Transport: tamperTransport{http.DefaultTransport}})
		_, err := c.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("payload"), PartitionKey: aws.String("key-a")})
		wantAPIError(t, err, CodeInvalidSignature, "The request signature we calculated does not match")
	})
	t.Run("unsigned", func(t *testing.T) {
		resp, body := env.do(t, nil, rawRequest{target: "ListStreams", contentType: ContentTypeJSON, body: []byte("{}"), unsigned: true})
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Amzn-ErrorType") != string(CodeMissingAuthenticationToken) {
			t.Fatalf("unsigned request: %s %s", resp.Status, body)
		}
	})
}

// wantMessage checks that the SDK error err has a message matching pattern.
func wantMessage(t *testing.T, err error, pattern string) {
	t.Helper()
	var ae interface{ ErrorMessage() string }
	if !errorsAs(err, &ae) || !regexp.MustCompile(pattern).MatchString(ae.ErrorMessage()) {
		t.Fatalf("error %v; want a message matching %s", err, pattern)
	}
}

// tamperTransport changes one byte of each request body after the SDK
// signed it: "key-a" becomes "key-b".
type tamperTransport struct{ next http.RoundTripper }

func (tt tamperTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	b = bytes.Replace(b, []byte("key-a"), []byte("key-b"), 1)
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	return tt.next.RoundTrip(r)
}

// TestAuth_PresignedURL sends a request presigned by the SDK's signer:
// accepted (and again) before it expires, refused after.
func TestAuth_PresignedURL(t *testing.T) {
	env, clock := newSigEnv(t, nil)
	body := []byte("{}")
	r, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/?X-Amz-Expires=60", bytes.NewReader(body))
	r.Header.Set("Content-Type", ContentTypeJSON)
	r.Header.Set("X-Amz-Target", TargetPrefix+"ListStreams")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: authKeyID, SecretAccessKey: authSecret}
	uri, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), SigV4Service, DefaultRegion,
		clock.Now(), func(o *v4.SignerOptions) { o.DisableHeaderHoisting = true })
	if err != nil {
		t.Fatal(err)
	}
	send := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, uri, bytes.NewReader(body))
		for k, vs := range hdr {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i := range 2 {
		if code, msg := send(); code != http.StatusOK || !strings.Contains(msg, "StreamNames") {
			t.Fatalf("presigned request %d: %d %s", i, code, msg)
		}
	}
	clock.Advance(61 * time.Second)
	if code, msg := send(); code != http.StatusBadRequest || !strings.Contains(msg, string(CodeInvalidSignature)) || !strings.Contains(msg, "Request has expired") {
		t.Fatalf("expired presigned request: %d %s", code, msg)
	}
}

// TestAuth_ReloadedSecret rotates the user's secret in the users file: after
// Reload the old secret is refused and the new one accepted, although the
// old one's signing key was cached.
func TestAuth_ReloadedSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(path, []byte(usersJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := auth.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := newSigEnv(t, store)
	if _, err := env.client.ListStreams(bg, &sdk.ListStreamsInput{}); err != nil {
		t.Fatal(err)
	}
	const rotated = "sluice-rotated-secret-9876543210"
	if err := os.WriteFile(path, []byte(strings.Replace(usersJSON, authSecret, rotated, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	_, err = env.client.ListStreams(bg, &sdk.ListStreamsInput{})
	wantAPIError(t, err, CodeInvalidSignature, "The request signature we calculated does not match")
	if _, err := authClient(env.srv.URL, authKeyID, rotated, nil).ListStreams(bg, &sdk.ListStreamsInput{}); err != nil {
		t.Fatalf("the rotated secret: %v", err)
	}
}

// TestAuth_UserOnStateAndContext checks that a verified request carries its
// user in the request state and on the operations' context, and that a
// refused one carries none.
func TestAuth_UserOnStateAndContext(t *testing.T) {
	env, clock := newSigEnv(t, nil)
	body := []byte("{}")
	r, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/", bytes.NewReader(body))
	r.Header.Set("X-Amz-Target", TargetPrefix+"ListStreams")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: authKeyID, SecretAccessKey: authSecret}
	if err := v4.NewSigner().SignHTTP(bg, creds, r, hex.EncodeToString(sum[:]), SigV4Service, DefaultRegion, clock.Now()); err != nil {
		t.Fatal(err)
	}
	st := new(reqState)
	signer, err := env.h.authenticate(r, st)
	if err != nil || signer == nil || signer.Name != "admin" {
		t.Fatalf("authenticate: %v, %v", signer, err)
	}
	if st.user != nil || UserFrom(env.h.requestContext(r, st)) != nil {
		t.Fatal("a user was recorded before the signature was verified")
	}
	st.body = []byte("{ }")
	if err := env.h.verifySignature(r, st, signer); err == nil || st.user != nil {
		t.Fatalf("a changed body verified (%v) or recorded a user", err)
	}
	st.body = body
	if err := env.h.verifySignature(r, st, signer); err != nil {
		t.Fatal(err)
	}
	ctx := env.h.requestContext(r, st)
	if st.user != signer || UserFrom(ctx) != signer {
		t.Fatal("the verified user is not on the state and the context")
	}
	if id, ok := AccessKeyFrom(ctx); !ok || id != authKeyID {
		t.Fatalf("access key on the context: %q %v", id, ok)
	}
	env.h.putState(st)
	if st.user != nil {
		t.Fatal("a pooled state kept its user")
	}
}

func TestNewHandler_AuthExcludesAllowUnsigned(t *testing.T) {
	users, err := auth.ParseUsers([]byte(usersJSON))
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t, nil)
	if _, err := NewHandler(env.eng, Options{IteratorKey: NewIteratorKey(), Auth: auth.NewStore(users), AllowUnsigned: true}); err == nil {
		t.Fatal("NewHandler accepted AllowUnsigned with Auth")
	}
}

// TestAuth_HotPathAllocations serves signed PutRecords and GetRecords with
// Options.Auth set (verification, then authorization): no allocation per
// record, and per request no more than without it.
func TestAuth_HotPathAllocations(t *testing.T) {
	env, clock := newSigEnv(t, nil)
	env.createStream(t, "a", 2)
	off := newTestEnv(t, unverified)
	off.createStream(t, "a", 2)
	putBody := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`{"StreamName":"a","Records":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"Data":"aGVsbG8gd29ybGQ=","PartitionKey":"key-` + strconv.Itoa(i) + `"}`)
		}
		b.WriteString(`]}`)
		return []byte(b.String())
	}
	signed := func(target string, body []byte) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://sluice.local/", bytes.NewReader(body))
		r.Header.Set("X-Amz-Target", TargetPrefix+target)
		r.Header.Set("Content-Type", ContentTypeJSON)
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: authKeyID, SecretAccessKey: authSecret}
		if err := v4.NewSigner().SignHTTP(bg, creds, r, hex.EncodeToString(sum[:]), SigV4Service, DefaultRegion, clock.Now()); err != nil {
			t.Fatal(err)
		}
		return r
	}
	allocs := func(h *Handler, r *http.Request, body []byte) float64 {
		w := &discardWriter{h: http.Header{}}
		return testing.AllocsPerRun(50, func() {
			r.Body = readCloser{bytes.NewReader(body)}
			r.ContentLength = int64(len(body))
			w.status = 0
			clear(w.h)
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				t.Fatalf("status %d", w.status)
			}
		})
	}
	getBody := func(e *testEnv, limit int) []byte {
		pos, err := e.eng.GetIterator("a", "shardId-000000000000", api.IteratorSpec{Type: api.TrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := e.h.iters.Encode(IteratorPosition{StreamName: "a", ShardID: "shardId-000000000000", Incarnation: uint64(pos.Incarnation)})
		if err != nil {
			t.Fatal(err)
		}
		return []byte(fmt.Sprintf(`{"ShardIterator":%q,"Limit":%d}`, tok, limit))
	}
	// calls returns the allocations of PutRecords and GetRecords of 10 and
	// of 500 records on e.
	calls := func(e *testEnv) (n [4]float64) {
		small, large := putBody(10), putBody(500)
		n[0], n[1] = allocs(e.h, signed("PutRecords", small), small), allocs(e.h, signed("PutRecords", large), large)
		get10, get500 := getBody(e, 10), getBody(e, 500)
		n[2], n[3] = allocs(e.h, signed("GetRecords", get10), get10), allocs(e.h, signed("GetRecords", get500), get500)
		return n
	}
	on, offN := calls(env), calls(off)
	t.Logf("allocations per request with Options.Auth (without): PutRecords %.0f (%.0f) for 10 records, %.0f (%.0f) for 500; GetRecords %.0f (%.0f) for 10, %.0f (%.0f) for 500",
		on[0], offN[0], on[1], offN[1], on[2], offN[2], on[3], offN[3])
	const slack = 40 // as in TestHandler_HotPathAllocationsDoNotGrowWithRecords; one per record would be 490
	for i, op := range []string{"PutRecords", "GetRecords"} {
		if on[2*i+1] > on[2*i]+slack {
			t.Errorf("with Options.Auth %s allocates %.0f times for 10 records and %.0f for 500", op, on[2*i], on[2*i+1])
		}
	}
	for i := range on {
		// Under the race detector sync.Pool drops a share of what is put
		// back, which makes the two counts wander apart by a few.
		if !raceEnabled && on[i] > offN[i]+1 {
			t.Errorf("Options.Auth adds allocations: %.0f with it, %.0f without", on[i], offN[i])
		}
	}
}

// TestAuth_SDKOverHTTP2 verifies the SDK's signatures over HTTP/2, where
// the signed Host comes from :authority.
func TestAuth_SDKOverHTTP2(t *testing.T) {
	env, _ := newSigEnv(t, nil)
	env.createStream(t, "s", 1)
	c := authClient(env.srv.URL, authKeyID, authSecret, h2cClient())
	out, err := c.PutRecords(bg, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []sdktypes.PutRecordsRequestEntry{
		{Data: bytes.Repeat([]byte("h2"), 1000), PartitionKey: aws.String("k")}}})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords over h2c: %v", err)
	}
	_, err = authClient(env.srv.URL, authKeyID, authSecret+"x", h2cClient()).ListStreams(bg, &sdk.ListStreamsInput{})
	wantAPIError(t, err, CodeInvalidSignature, "The request signature we calculated does not match")
}

// TestAuth_RefusalsAreAudited: a mutating request refused for its
// signature is an audit line, as anonymous, with the refusal's name.
func TestAuth_RefusalsAreAudited(t *testing.T) {
	users, err := auth.ParseUsers([]byte(usersJSON))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	audit, err := auth.OpenAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now()}
	env := newTestEnv(t, func(c *envConfig) {
		c.opts.Auth, c.opts.Audit, c.opts.Now = auth.NewStore(users), audit, clock.Now
	})
	put := func(c *sdk.Client) error {
		_, err := c.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x"), PartitionKey: aws.String("k")})
		return err
	}
	wantAPIError(t, put(authClient(env.srv.URL, authKeyID, authSecret+"x", nil)), CodeInvalidSignature, "")
	wantAPIError(t, put(authClient(env.srv.URL, "AKIAUNKNOWN000000001", authSecret, nil)), CodeUnrecognizedClient, "")
	// A read refused for its signature is a failed authentication too:
	// audited although reads are not.
	_, err = authClient(env.srv.URL, authKeyID, authSecret+"x", nil).ListStreams(bg, &sdk.ListStreamsInput{})
	wantAPIError(t, err, CodeInvalidSignature, "")
	if err := audit.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("audit log:\n%s", b)
	}
	for i, want := range []struct{ action, outcome string }{
		{"kinesis:PutRecord", "error:InvalidSignatureException"},
		{"kinesis:PutRecord", "error:UnrecognizedClientException"},
		{"kinesis:ListStreams", "error:InvalidSignatureException"},
	} {
		if !strings.Contains(lines[i], `"identity":"anonymous","action":"`+want.action+`"`) || !strings.Contains(lines[i], `"outcome":"`+want.outcome+`"`) {
			t.Errorf("audit line %d: %s; want anonymous %s %s", i, lines[i], want.action, want.outcome)
		}
	}
}
