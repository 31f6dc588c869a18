// Package awshttp holds what a client that drives a Kinesis endpoint
// through the unmodified aws-sdk-go-v2 needs around it: the tests, the
// benchmarks and the agent's Kinesis API destination all send through it.
package awshttp

import (
	"bytes"
	"io"
	"net/http"
)

// CopyBodyTransport hands net/http a copy of each request body. smithy-go
// (v1.28.9) closes its request body wrapper as soon as the response
// headers arrive, after which the wrapper's WriteTo returns io.EOF; when
// net/http makes its final read of a body it sent with ReadFrom, after the
// server has answered, it takes that EOF for a write error and closes the
// connection under the response being read ("use of closed network
// connection", on about 1% of HTTP/1.1 calls whose responses pass a few
// KiB, against any server that answers within microseconds). Clients that
// must not see that failure (a retried put is a duplicate) send through
// this transport.
type CopyBodyTransport struct{ Next http.RoundTripper }

// RoundTrip sends r with its body read into memory first.
func (c CopyBodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return c.Next.RoundTrip(r)
}

// HTTPClient returns an http.Client sending through CopyBodyTransport over
// a fresh default transport.
func HTTPClient() *http.Client {
	return &http.Client{Transport: CopyBodyTransport{Next: http.DefaultTransport.(*http.Transport).Clone()}}
}
