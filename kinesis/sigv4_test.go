package kinesis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicedb/sluice/auth"
)

// TestParseAuth_GoSDKSignedRequest parses the Authorization header the Go
// SDK signs a real request with.
func TestParseAuth_GoSDKSignedRequest(t *testing.T) {
	fake := newFakeKinesis(t)
	if _, err := fake.client().ListStreams(context.Background(), &sdk.ListStreamsInput{}); err != nil {
		t.Fatal(err)
	}
	req := fake.last(t)
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Authorization", req.auth)
	r.Header.Set("X-Amz-Date", req.amzDate)
	a, err := ParseAuth(r)
	if err != nil {
		t.Fatalf("ParseAuth(%q): %v", req.auth, err)
	}
	if a.AccessKeyID != "AKIDEXAMPLE" || a.Region != "us-east-1" || a.Service != "kinesis" || a.Presigned ||
		len(a.Signature) != 64 || !strings.Contains(a.SignedHeaders, "x-amz-target") || a.Date != req.amzDate[:8] || a.RequestTime != req.amzDate {
		t.Errorf("parsed %+v from %q", a, req.auth)
	}
}

func TestParseAuth_Errors(t *testing.T) {
	const good = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd"
	cases := []struct {
		name    string
		header  string
		date    string
		query   string
		code    ErrorCode
		message string // substring
	}{
		{"nothing", "", "", "", CodeMissingAuthenticationToken, "Missing Authentication Token"},
		{"both", good, "20240101T000000Z", "X-Amz-Algorithm=AWS4-HMAC-SHA256", CodeInvalidSignature,
			"Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."},
		{"no params", "AWS4-HMAC-SHA256 ", "20240101T000000Z", "", CodeIncompleteSignature,
			"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 "},
		{"no date", good, "", "", CodeIncompleteSignature,
			"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=" + good},
		{"other scheme", "Basic dXNlcjpwYXNz", "x", "", CodeIncompleteSignature, "scheme 'Basic'"},
		{"short credential", strings.Replace(good, "AKID/20240101/us-east-1/kinesis/aws4_request", "AKID/20240101/us-east-1", 1), "x", "",
			CodeIncompleteSignature, "Credential 'AKID/20240101/us-east-1' is malformed"},
		{"terminator", strings.Replace(good, "aws4_request", "aws4_requestX", 1), "x", "", CodeIncompleteSignature,
			"Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_requestX'."},
		{"date", strings.Replace(good, "20240101", "2024-1-1", 1), "x", "", CodeIncompleteSignature, "valid date"},
		{"no key", strings.Replace(good, "AKID/", "/", 1), "x", "", CodeIncompleteSignature, "no access key id"},
		{"no region", strings.Replace(good, "us-east-1", "", 1), "x", "", CodeIncompleteSignature, "valid region"},
		{"no service", strings.Replace(good, "/kinesis/", "//", 1), "x", "", CodeIncompleteSignature, "correct service"},
		{"presigned missing", "", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240101T000000Z", CodeIncompleteSignature,
			"AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."},
		{"presigned algorithm", "", "", "X-Amz-Algorithm=HMAC&X-Amz-Credential=A%2F20240101%2Fr%2Fkinesis%2Faws4_request&X-Amz-Signature=s&X-Amz-SignedHeaders=host&X-Amz-Date=d",
			CodeIncompleteSignature, "only supported algorithm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/?"+tc.query, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if tc.date != "" {
				r.Header.Set("X-Amz-Date", tc.date)
			}
			_, err := ParseAuth(r)
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Status != 400 {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			if !strings.Contains(e.Message, tc.message) {
				t.Errorf("message %q\nwant it to contain %q", e.Message, tc.message)
			}
		})
	}
}

func TestParseAuth_Presigned(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Feu-west-1%2Fkinesis%2Faws4_request"+
		"&X-Amz-Signature=ff&X-Amz-SignedHeaders=host&X-Amz-Date=20240101T101010Z", nil)
	a, err := ParseAuth(r)
	if err != nil {
		t.Fatal(err)
	}
	want := Auth{AccessKeyID: "AKID", Date: "20240101", Region: "eu-west-1", Service: "kinesis", SignedHeaders: "host", Signature: "ff", RequestTime: "20240101T101010Z", Presigned: true}
	if a != want {
		t.Errorf("parsed %+v, want %+v", a, want)
	}
}

// TestParseAuthorization_DateHeaderAndSlashInKey accepts a Date header in
// place of X-Amz-Date, and splits the scope from the right.
func TestParseAuthorization_DateHeaderAndSlashInKey(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=ab/cd/20240101/us-east-1/kinesis/aws4_request,SignedHeaders=host,Signature=00")
	r.Header.Set("Date", "Mon, 01 Jan 2024 00:00:00 GMT")
	a, err := ParseAuth(r)
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessKeyID != "ab/cd" || a.RequestTime != "Mon, 01 Jan 2024 00:00:00 GMT" {
		t.Errorf("parsed %+v", a)
	}
}

func TestAccessKey_Context(t *testing.T) {
	if _, ok := AccessKeyFrom(context.Background()); ok {
		t.Error("an access key on an empty context")
	}
	ctx := WithAccessKey(context.Background(), "AKIDEXAMPLE")
	if id, ok := AccessKeyFrom(ctx); !ok || id != "AKIDEXAMPLE" {
		t.Errorf("AccessKeyFrom = %q, %v", id, ok)
	}
}

// TestAuthError_KeepsAWSNames converts each refused authentication of
// package auth to the error answered, with its name and message and
// status 400, and leaves other errors alone.
func TestAuthError_KeepsAWSNames(t *testing.T) {
	for _, code := range []ErrorCode{CodeMissingAuthenticationToken, CodeIncompleteSignature, CodeInvalidSignature, CodeUnrecognizedClient} {
		err := authError(fmt.Errorf("wrapped: %w", &auth.SigV4Error{Code: string(code), Message: "why"}))
		var e *Error
		if !errors.As(err, &e) || e.Code != code || e.Message != "why" || e.Status != http.StatusBadRequest {
			t.Errorf("%s became %#v", code, err)
		}
	}
	if !errors.Is(authError(auth.UnrecognizedClient()), ErrUnrecognizedClient) {
		t.Error("UnrecognizedClient does not match ErrUnrecognizedClient")
	}
	other := errors.New("other")
	if authError(other) != other || authError(nil) != nil {
		t.Error("authError changed an error that is not an authentication's")
	}
}

// TestUserFrom_NoVerification: without Options.Auth the context carries the
// access key id but no user.
func TestUserFrom_NoVerification(t *testing.T) {
	ctx := WithAccessKey(context.Background(), "AKIDEXAMPLE")
	if UserFrom(ctx) != nil || UserFrom(context.Background()) != nil {
		t.Error("a user without verification")
	}
	u := &auth.User{Name: "ingest"}
	ctx = withIdentity(context.Background(), "AKIDEXAMPLE", u)
	if id, ok := AccessKeyFrom(ctx); UserFrom(ctx) != u || !ok || id != "AKIDEXAMPLE" {
		t.Error("withIdentity lost the user or the key")
	}
}
