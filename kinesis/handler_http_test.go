package kinesis

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/fxamacker/cbor/v2"
)

// Requests built by hand: CBOR bodies, HTTP/2 with prior knowledge, and
// the framework's answers to malformed requests.

const testAuthorization = "AWS4-HMAC-SHA256 Credential=AKIDRAWTEST/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0123abcd"

// rawRequest is a hand-built API request.
type rawRequest struct {
	method      string // default POST
	target      string // operation name; "" sends no X-Amz-Target
	rawTarget   string // a whole X-Amz-Target value, instead of target
	contentType string
	body        []byte
	unsigned    bool
}

// do sends req with client (http.DefaultClient if nil) and returns the
// response with its body read.
func (env *testEnv) do(t testing.TB, client *http.Client, req rawRequest) (*http.Response, []byte) {
	t.Helper()
	if req.method == "" {
		req.method = http.MethodPost
	}
	r, err := http.NewRequest(req.method, env.srv.URL+"/", bytes.NewReader(req.body))
	if err != nil {
		t.Fatal(err)
	}
	if req.target != "" {
		r.Header.Set("X-Amz-Target", TargetPrefix+req.target)
	}
	if req.rawTarget != "" {
		r.Header.Set("X-Amz-Target", req.rawTarget)
	}
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	if !req.unsigned {
		r.Header.Set("Authorization", testAuthorization)
		r.Header.Set("X-Amz-Date", "20240101T000000Z")
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// cborDo sends a CBOR request for target with v encoded as its body and
// decodes a 200 response into out.
func (env *testEnv) cborDo(t testing.TB, target string, v, out any) {
	t.Helper()
	body, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	resp, b := env.do(t, nil, rawRequest{target: target, contentType: ContentTypeCBOR, body: body})
	if resp.StatusCode != http.StatusOK {
		var e map[string]any
		_ = cbor.Unmarshal(b, &e)
		t.Fatalf("%s: %s %v", target, resp.Status, e)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ContentTypeCBOR {
		t.Fatalf("%s answered in %q", target, ct)
	}
	if out != nil {
		if err := cbor.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: response is not CBOR: %v", target, err)
		}
	}
}

// h2cClient speaks HTTP/2 with prior knowledge only, as the JS SDK v3 does
// on http:// endpoints.
func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

func TestHandler_CBORRequests(t *testing.T) {
	env := newTestEnv(t, unverified)
	env.cborDo(t, "CreateStream", map[string]any{"StreamName": "c", "ShardCount": 1}, nil)

	// PutRecords as the Java SDK sends it: indefinite-length map and array,
	// byte strings for Data.
	var req []byte
	req = append(req, 0xbf)
	req = cborAppend(t, req, "StreamName", "c", "Records")
	req = append(req, 0x9f)
	for _, rec := range []struct{ data, key string }{{"one", "k1"}, {"two", "k2"}} {
		req = append(req, 0xbf)
		req = cborAppend(t, req, "Data", []byte(rec.data), "PartitionKey", rec.key)
		req = append(req, 0xff)
	}
	req = append(req, 0xff, 0xff)
	resp, body := env.do(t, nil, rawRequest{target: "PutRecords", contentType: ContentTypeCBOR, body: req})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PutRecords: %s", resp.Status)
	}
	var put struct {
		FailedRecordCount int
		Records           []struct{ SequenceNumber, ShardId string }
		EncryptionType    string
	}
	if err := cbor.Unmarshal(body, &put); err != nil {
		t.Fatal(err)
	}
	if put.FailedRecordCount != 0 || len(put.Records) != 2 || put.Records[1].SequenceNumber == "" || put.EncryptionType != "NONE" {
		t.Fatalf("PutRecords response %+v", put)
	}

	// AT_TIMESTAMP with a tag-1 epoch-millisecond timestamp.
	var it struct{ ShardIterator string }
	env.cborDo(t, "GetShardIterator", map[string]any{"StreamName": "c", "ShardId": "shardId-000000000000",
		"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": cbor.Tag{Number: 1, Content: time.Now().Add(-time.Minute).UnixMilli()}}, &it)
	var got struct {
		Records []struct {
			SequenceNumber              string
			ApproximateArrivalTimestamp int64
			Data                        []byte
			PartitionKey                string
		}
		NextShardIterator  string
		MillisBehindLatest int64
	}
	env.cborDo(t, "GetRecords", map[string]any{"ShardIterator": it.ShardIterator}, &got)
	if len(got.Records) != 2 || string(got.Records[0].Data) != "one" || got.Records[1].PartitionKey != "k2" ||
		got.Records[0].SequenceNumber != put.Records[0].SequenceNumber || got.NextShardIterator == "" {
		t.Fatalf("GetRecords response %+v", got)
	}
	if ms := got.Records[0].ApproximateArrivalTimestamp; time.Since(time.UnixMilli(ms)) > time.Minute || time.Since(time.UnixMilli(ms)) < 0 {
		t.Fatalf("ApproximateArrivalTimestamp %d is not epoch milliseconds of now", ms)
	}

	var sum struct {
		StreamDescriptionSummary struct {
			StreamName              string
			StreamCreationTimestamp int64
			OpenShardCount          int
		}
	}
	env.cborDo(t, "DescribeStreamSummary", map[string]any{"StreamName": "c"}, &sum)
	if s := sum.StreamDescriptionSummary; s.StreamName != "c" || s.OpenShardCount != 1 || time.Since(time.UnixMilli(s.StreamCreationTimestamp)) > time.Minute {
		t.Fatalf("DescribeStreamSummary %+v", s)
	}

	// Errors come back in CBOR too.
	b, _ := cbor.Marshal(map[string]any{"StreamName": "missing"})
	resp, body = env.do(t, nil, rawRequest{target: "DescribeStreamSummary", contentType: ContentTypeCBOR, body: b})
	var e map[string]string
	if err := cbor.Unmarshal(body, &e); err != nil || resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != string(CodeResourceNotFound) ||
		e["__type"] != string(CodeResourceNotFound) || !strings.Contains(e["message"], "missing") {
		t.Fatalf("CBOR error: %s %q %v (%v)", resp.Status, body, e, err)
	}
	resp, _ = env.do(t, nil, rawRequest{target: "DescribeStreamSummary", contentType: ContentTypeCBOR, body: []byte{0xbf, 0x61}})
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != string(CodeSerialization) {
		t.Fatalf("truncated CBOR: %s %s", resp.Status, resp.Header.Get("X-Amzn-ErrorType"))
	}
}

// cborAppend appends CBOR encodings of vs.
func cborAppend(t testing.TB, dst []byte, vs ...any) []byte {
	t.Helper()
	for _, v := range vs {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		dst = append(dst, b...)
	}
	return dst
}

func TestHandler_CBORSubscription(t *testing.T) {
	env := newTestEnv(t, unverified)
	env.createStream(t, "s", 1)
	carn := env.registerConsumer(t, "s", "java")
	if _, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte{0, 1, 2}, PartitionKey: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	body, _ := cbor.Marshal(map[string]any{"ConsumerARN": carn, "ShardId": "shardId-000000000000", "StartingPosition": map[string]any{"Type": "TRIM_HORIZON"}})
	r, _ := http.NewRequest(http.MethodPost, env.srv.URL, bytes.NewReader(body))
	r.Header.Set("X-Amz-Target", TargetPrefix+"SubscribeToShard")
	r.Header.Set("Content-Type", ContentTypeCBOR)
	r.Header.Set("Authorization", testAuthorization)
	r.Header.Set("X-Amz-Date", "20240101T000000Z")
	resp, err := h2cClient().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.Header.Get("Content-Type") != ContentTypeEventStream {
		t.Fatalf("SubscribeToShard over h2c: %s %s %q", resp.Proto, resp.Status, resp.Header.Get("Content-Type"))
	}
	var buf []byte
	next := func() EventMessage {
		t.Helper()
		for {
			if m, n, err := DecodeEventStreamMessage(buf); err == nil {
				buf = buf[n:]
				return m
			}
			chunk := make([]byte, 4096)
			n, err := resp.Body.Read(chunk)
			if n == 0 && err != nil {
				t.Fatalf("stream ended: %v", err)
			}
			buf = append(buf, chunk[:n]...)
		}
	}
	if m := next(); mustHeader(t, m, ":event-type") != "initial-response" {
		t.Fatalf("first message %+v", m)
	}
	m := next()
	if mustHeader(t, m, ":event-type") != "SubscribeToShardEvent" || mustHeader(t, m, ":content-type") != ContentTypeCBOR {
		t.Fatalf("event headers %+v", m.Headers)
	}
	var ev struct {
		Records []struct {
			Data         []byte
			PartitionKey string
		}
		ContinuationSequenceNumber string
	}
	if err := cbor.Unmarshal(m.Payload, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 1 || !bytes.Equal(ev.Records[0].Data, []byte{0, 1, 2}) || ev.ContinuationSequenceNumber == "" {
		t.Fatalf("CBOR event %+v", ev)
	}
}

func mustHeader(t testing.TB, m EventMessage, name string) string {
	t.Helper()
	v, ok := m.Header(name)
	if !ok {
		t.Fatalf("message has no %s header", name)
	}
	return v
}

func TestHandler_H2CPriorKnowledge(t *testing.T) {
	env := newTestEnv(t, unverified)
	hc := h2cClient()
	resp, body := env.do(t, hc, rawRequest{target: "ListStreams", contentType: ContentTypeJSON, body: []byte("{}")})
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.Contains(string(body), `"StreamNames":[]`) {
		t.Fatalf("ListStreams over h2c: %s %s %s", resp.Proto, resp.Status, body)
	}
	// The unmodified SDK over an h2c-only transport: writes, reads and a subscription.
	c := env.sdkClient(hc)
	if _, err := c.CreateStream(bg, &sdk.CreateStreamInput{StreamName: aws.String("h2"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.PutRecords(bg, &sdk.PutRecordsInput{StreamName: aws.String("h2"), Records: []sdktypes.PutRecordsRequestEntry{{Data: []byte("over h2c"), PartitionKey: aws.String("k")}}})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords over h2c: %v", err)
	}
	it, err := c.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String("h2"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil || len(g.Records) != 1 || string(g.Records[0].Data) != "over h2c" {
		t.Fatalf("GetRecords over h2c: %v %+v", err, g)
	}
	carn := env.registerConsumer(t, "h2", "app")
	sub, err := env.sdkClient(h2cClient()).SubscribeToShard(bg, &sdk.SubscribeToShardInput{ConsumerARN: aws.String(carn), ShardId: aws.String("shardId-000000000000"),
		StartingPosition: &sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeTrimHorizon}})
	if err != nil {
		t.Fatal(err)
	}
	stream := sub.GetStream()
	defer stream.Close()
	if ev := eventWithRecords(t, stream); len(ev.Records) != 1 || string(ev.Records[0].Data) != "over h2c" {
		t.Fatalf("subscription over h2c: %+v", ev)
	}
}

func TestHandler_FrameworkErrors(t *testing.T) {
	env := newTestEnv(t, func(c *envConfig) { unverified(c); c.opts.MaxBodyBytes = 1024; c.opts.MaxControlBodyBytes = 1024 })
	json11 := ContentTypeJSON
	for _, tc := range []struct {
		name   string
		req    rawRequest
		status int
		code   ErrorCode
		msg    string
	}{
		{"GET", rawRequest{method: http.MethodGet}, 403, CodeAccessDenied, "Unable to determine service/operation name"},
		{"unknown content type", rawRequest{target: "ListStreams", contentType: "text/plain", body: []byte("{}")}, 404, CodeUnknownOperation, ""},
		{"no target", rawRequest{contentType: json11, body: []byte("{}")}, 400, CodeUnknownOperation, ""},
		{"unknown operation", rawRequest{target: "MakeCoffee", contentType: json11, body: []byte("{}")}, 400, CodeUnknownOperation, ""},
		{"other service", rawRequest{rawTarget: "DynamoDB_20120810.ListTables", contentType: json11, body: []byte("{}")}, 400, CodeUnknownOperation, ""},
		{"unsigned", rawRequest{target: "ListStreams", contentType: json11, body: []byte("{}"), unsigned: true}, 400, CodeMissingAuthenticationToken, "Missing Authentication Token"},
		{"empty body", rawRequest{target: "ListStreams", contentType: json11}, 400, CodeSerialization, ""},
		{"bad JSON", rawRequest{target: "ListStreams", contentType: json11, body: []byte(`{"Limit":`)}, 400, CodeSerialization, ""},
		{"wrong type", rawRequest{target: "ListStreams", contentType: json11, body: []byte(`{"Limit":"ten"}`)}, 400, CodeSerialization, "class java.lang.String can not be converted to an Integer"},
		{"not an object", rawRequest{target: "ListStreams", contentType: json11, body: []byte(`[]`)}, 400, CodeSerialization, "JSON object"},
		{"missing members", rawRequest{target: "SplitShard", contentType: json11, body: []byte(`{"StreamName":"s"}`)}, 400, CodeValidation,
			"2 validation errors detected: Value null at 'newStartingHashKey' failed to satisfy constraint: Member must not be null; Value null at 'shardToSplit' failed to satisfy constraint: Member must not be null"},
		{"too large", rawRequest{target: "ListStreams", contentType: json11, body: bytes.Repeat([]byte(" "), 2000)}, 413, "", "limit is 1024 bytes"},
		{"application/json", rawRequest{target: "DescribeStreamSummary", contentType: "application/json", body: []byte(`{"StreamName":"nope"}`)}, 400, CodeResourceNotFound, "nope"},
	} {
		resp, body := env.do(t, nil, tc.req)
		if resp.StatusCode != tc.status || resp.Header.Get("X-Amzn-ErrorType") != string(tc.code) {
			t.Errorf("%s: %s, X-Amzn-ErrorType %q; want %d %s (%s)", tc.name, resp.Status, resp.Header.Get("X-Amzn-ErrorType"), tc.status, tc.code, body)
			continue
		}
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Type != string(tc.code) || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: body %s; want __type %s and a message with %q", tc.name, body, tc.code, tc.msg)
		}
		if resp.Header.Get("X-Amzn-Requestid") == "" {
			t.Errorf("%s: no x-amzn-RequestId", tc.name)
		}
	}
	// A chunked body over the limit (no Content-Length) is refused as well.
	pr, pw := io.Pipe()
	go func() {
		pw.Write(bytes.Repeat([]byte(" "), 4096))
		pw.Close()
	}()
	r, _ := http.NewRequest(http.MethodPost, env.srv.URL, pr)
	r.Header.Set("X-Amz-Target", TargetPrefix+"ListStreams")
	r.Header.Set("Content-Type", ContentTypeJSON)
	r.Header.Set("Authorization", testAuthorization)
	r.Header.Set("X-Amz-Date", "20240101T000000Z")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversized body: %s", resp.Status)
	}
}

func TestHandler_AllowUnsigned(t *testing.T) {
	env := newTestEnv(t, func(c *envConfig) { unverified(c); c.opts.AllowUnsigned = true })
	resp, body := env.do(t, nil, rawRequest{target: "ListStreams", contentType: ContentTypeJSON, body: []byte("{}"), unsigned: true})
	if resp.StatusCode != 200 {
		t.Fatalf("unsigned request with AllowUnsigned: %s %s", resp.Status, body)
	}
}

func TestHandler_AccessKeyOnContext(t *testing.T) {
	env := newTestEnv(t, unverified)
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Authorization", testAuthorization)
	r.Header.Set("X-Amz-Date", "20240101T000000Z")
	st := new(reqState)
	if _, err := env.h.authenticate(r, st); err != nil {
		t.Fatal(err)
	}
	if id, ok := AccessKeyFrom(env.h.requestContext(r, st)); !ok || id != "AKIDRAWTEST" {
		t.Fatalf("access key on the context: %q %v", id, ok)
	}
	r.Header.Del("Authorization")
	if _, err := env.h.authenticate(r, new(reqState)); err == nil {
		t.Fatal("an unsigned request authenticated")
	}
}
