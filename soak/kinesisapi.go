package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// The Kinesis API's request framing, as the AWS SDKs send it. The server
// checks that Authorization has the SigV4 shape, not the signature.
const (
	targetPrefix  = "Kinesis_20131202."
	contentType   = "application/x-amz-json-1.1"
	authorization = "AWS4-HMAC-SHA256 Credential=AKIDSOAK/20240101/us-east-1/kinesis/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef"
	amzDate = "20240101T000000Z"
)

// APIHead is the head of a Kinesis API request for op over HTTP/1.1 that
// declares a body of contentLength bytes.
func APIHead(op string, contentLength int64) []byte {
	return fmt.Appendf(nil, "POST / HTTP/1.1\r\nHost: kinesis\r\nContent-Type: %s\r\nX-Amz-Target: %s%s\r\n"+
		"Authorization: %s\r\nX-Amz-Date: %s\r\nContent-Length: %d\r\n\r\n",
		contentType, targetPrefix, op, authorization, amzDate, contentLength)
}

// APIError is a Kinesis API call answered with an error.
type APIError struct {
	Op     string
	Status int
	Body   string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.Op, e.Status, e.Body)
}

// apiCall makes one Kinesis API call with a JSON body and decodes the
// answer into out (which may be nil).
func apiCall(ctx context.Context, hc *http.Client, httpAddr, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	req.Header.Set("Authorization", authorization)
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: read the answer: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &APIError{Op: op, Status: resp.StatusCode, Body: string(b)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: decode the answer %.200q: %w", op, b, err)
	}
	return nil
}
