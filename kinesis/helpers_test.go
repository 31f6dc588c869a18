package kinesis

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/sluicedb/sluice/internal/awshttp"
)

// captured is one request the fake server received.
type captured struct {
	target      string
	contentType string
	auth        string
	amzDate     string
	body        []byte
}

// fakeKinesis is an httptest server standing in for the Kinesis endpoint:
// it records every request and answers with respond (default: 200 "{}").
type fakeKinesis struct {
	srv *httptest.Server

	mu      sync.Mutex // guards reqs and respond
	reqs    []captured
	respond func(w http.ResponseWriter, c captured) // nil: 200 "{}"
}

// setRespond sets how the server answers the following requests.
func (f *fakeKinesis) setRespond(fn func(w http.ResponseWriter, c captured)) {
	f.mu.Lock()
	f.respond = fn
	f.mu.Unlock()
}

func newFakeKinesis(t testing.TB) *fakeKinesis {
	t.Helper()
	f := &fakeKinesis{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c := captured{
			target:      r.Header.Get("X-Amz-Target"),
			contentType: r.Header.Get("Content-Type"),
			auth:        r.Header.Get("Authorization"),
			amzDate:     r.Header.Get("X-Amz-Date"),
			body:        body,
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, c)
		respond := f.respond
		f.mu.Unlock()
		if respond != nil {
			respond(w, c)
			return
		}
		w.Header().Set("Content-Type", ContentTypeJSON)
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// last returns the most recent request.
func (f *fakeKinesis) last(t testing.TB) captured {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the server received no request")
	}
	return f.reqs[len(f.reqs)-1]
}

// client returns an unmodified aws-sdk-go-v2 Kinesis client for the fake
// server, with static credentials and no retries, over awshttp.CopyBodyTransport
// (see sdkClient for why).
func (f *fakeKinesis) client() *sdk.Client {
	return sdk.New(sdk.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Transport: awshttp.CopyBodyTransport{Next: http.DefaultTransport.(*http.Transport).Clone()}},
	})
}

// respondWith makes the server answer every request with status and body in format f.
func respondWith(status int, f Format, body []byte) func(http.ResponseWriter, captured) {
	return func(w http.ResponseWriter, _ captured) {
		w.Header().Set("Content-Type", f.ContentType())
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// normalize returns v for comparison after a round trip (a hook for
// representation differences that carry no meaning).
func normalize(v any) any { return v }

// jsonEncoderFor returns an encoding/json encoder configured as AppendResponse's.
func jsonEncoderFor(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// jsonUnmarshal is json.Unmarshal (named for symmetry with cbor.Unmarshal).
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// jsonEqual reports whether two JSON documents hold the same values.
func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("invalid JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}
