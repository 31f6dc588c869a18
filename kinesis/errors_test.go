package kinesis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/fxamacker/cbor/v2"
)

// TestWriteError_GoSDKMapsEveryModeledError answers with each modeled error
// and checks that the Go SDK raises its typed exception with our message,
// and that the status is 400, or 500 for InternalFailureException.
func TestWriteError_GoSDKMapsEveryModeledError(t *testing.T) {
	cases := []struct {
		code ErrorCode
		as   func(error) bool
	}{
		{CodeAccessDenied, isType[*sdktypes.AccessDeniedException]},
		{CodeDryRunOperation, isType[*sdktypes.DryRunOperationException]},
		{CodeExpiredIterator, isType[*sdktypes.ExpiredIteratorException]},
		{CodeExpiredNextToken, isType[*sdktypes.ExpiredNextTokenException]},
		{CodeInternalFailure, isType[*sdktypes.InternalFailureException]},
		{CodeInvalidArgument, isType[*sdktypes.InvalidArgumentException]},
		{CodeKMSAccessDenied, isType[*sdktypes.KMSAccessDeniedException]},
		{CodeKMSDisabled, isType[*sdktypes.KMSDisabledException]},
		{CodeKMSInvalidState, isType[*sdktypes.KMSInvalidStateException]},
		{CodeKMSNotFound, isType[*sdktypes.KMSNotFoundException]},
		{CodeKMSOptInRequired, isType[*sdktypes.KMSOptInRequired]},
		{CodeKMSThrottling, isType[*sdktypes.KMSThrottlingException]},
		{CodeLimitExceeded, isType[*sdktypes.LimitExceededException]},
		{CodeProvisionedThroughputExceeded, isType[*sdktypes.ProvisionedThroughputExceededException]},
		{CodeResourceInUse, isType[*sdktypes.ResourceInUseException]},
		{CodeResourceNotFound, isType[*sdktypes.ResourceNotFoundException]},
		{CodeValidation, isType[*sdktypes.ValidationException]},
	}
	var status atomic.Int32
	fake := newFakeKinesis(t)
	client := fake.client()
	for _, tc := range cases {
		t.Run(string(tc.code), func(t *testing.T) {
			msg := fmt.Sprintf("Stream orders under account 000000000000 not found (%s) ✓", tc.code)
			fake.setRespond(func(w http.ResponseWriter, _ captured) {
				rec := httptest.NewRecorder()
				WriteError(rec, FormatJSON, Errorf(tc.code, "%s", msg))
				status.Store(int32(rec.Code))
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
			})
			_, err := client.DescribeStreamSummary(context.Background(), &sdk.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
			if !tc.as(err) {
				t.Fatalf("SDK error %T %v, want the %s type", err, err, tc.code)
			}
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != string(tc.code) || api.ErrorMessage() != msg {
				t.Errorf("SDK error code %q message %q", api.ErrorCode(), api.ErrorMessage())
			}
			want := http.StatusBadRequest
			if tc.code == CodeInternalFailure {
				want = http.StatusInternalServerError
			}
			if got := int(status.Load()); got != want {
				t.Errorf("status %d, want %d", got, want)
			}
		})
	}
}

func isType[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// TestWriteError_FrameworkErrors covers the errors answered before an
// operation runs, which the SDK reports as generic API errors by name.
func TestWriteError_FrameworkErrors(t *testing.T) {
	fake := newFakeKinesis(t)
	client := fake.client()
	for _, e := range []*Error{
		Errorf(CodeSerialization, "cannot read the JSON request body"),
		Errorf(CodeMissingAuthenticationToken, "Missing Authentication Token"),
		Errorf(CodeIncompleteSignature, "Authorization header requires 'Signature' parameter."),
		{Code: CodeUnknownOperation, Status: 400},
	} {
		fake.setRespond(func(w http.ResponseWriter, _ captured) { WriteError(w, FormatJSON, e) })
		_, err := client.ListStreams(context.Background(), &sdk.ListStreamsInput{})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != string(e.Code) {
			t.Errorf("%s: SDK error %v", e.Code, err)
		}
		if e.Message != "" && api.ErrorMessage() != e.Message {
			t.Errorf("%s: message %q, want %q", e.Code, api.ErrorMessage(), e.Message)
		}
	}
}

// TestWriteError_RequestTooLarge answers 413 with no error name, as AWS does.
func TestWriteError_RequestTooLarge(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, FormatJSON, RequestTooLarge(11<<20, 10<<20))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", rec.Code)
	}
	if h := rec.Header().Get("X-Amzn-ErrorType"); h != "" {
		t.Errorf("X-Amzn-ErrorType %q on a 413", h)
	}
	want := `{"message":"request body is 11534336 bytes or more; the limit is 10485760 bytes"}`
	if rec.Body.String() != want {
		t.Errorf("body %s, want %s", rec.Body, want)
	}

	fake := newFakeKinesis(t)
	fake.setRespond(func(w http.ResponseWriter, _ captured) { WriteError(w, FormatJSON, RequestTooLarge(11<<20, 10<<20)) })
	_, err := fake.client().PutRecords(context.Background(), &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []sdktypes.PutRecordsRequestEntry{{Data: []byte("x"), PartitionKey: aws.String("k")}}})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusRequestEntityTooLarge {
		t.Fatalf("SDK error %v, want an HTTP 413 response error", err)
	}
	if !errors.Is(RequestTooLarge(1, 0), ErrRequestTooLarge) || errors.Is(RequestTooLarge(1, 0), ErrValidation) {
		t.Error("errors.Is does not match a 413 by status")
	}
}

// TestWriteError_CBOR writes the CBOR error body the Java SDK parses.
func TestWriteError_CBOR(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, FormatCBOR, Errorf(CodeResourceNotFound, "Stream x not found"))
	if rec.Code != 400 || rec.Header().Get("Content-Type") != ContentTypeCBOR || rec.Header().Get("X-Amzn-ErrorType") != "ResourceNotFoundException" {
		t.Fatalf("status %d headers %v", rec.Code, rec.Header())
	}
	var body map[string]string
	if err := cbor.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body["__type"] != "ResourceNotFoundException" || body["message"] != "Stream x not found" || len(body) != 2 {
		t.Errorf("body %v", body)
	}
}

// TestAsError_WrapsAndFallsBack finds an *Error in a chain and turns any
// other error into an InternalFailureException.
func TestAsError_WrapsAndFallsBack(t *testing.T) {
	inner := Errorf(CodeResourceInUse, "stream is being deleted")
	wrapped := fmt.Errorf("delete stream: %w", inner)
	if got := AsError(wrapped); got != inner {
		t.Errorf("AsError(wrapped) = %v", got)
	}
	if !errors.Is(wrapped, ErrResourceInUse) || errors.Is(wrapped, ErrResourceNotFound) {
		t.Error("errors.Is does not match by code")
	}
	// The cause of an internal failure (paths, system calls) is logged,
	// not told to the client.
	got := AsError(errors.New("open /var/lib/sluice/streams/0000000001: too many open files"))
	if got.Code != CodeInternalFailure || got.Status != 500 || strings.Contains(got.Message, "/var/lib") || !strings.Contains(got.Message, "log") {
		t.Errorf("AsError(plain) = %+v", got)
	}
	if AsError(nil) != nil {
		t.Error("AsError(nil) != nil")
	}
}

// TestValidationError_AWSWording formats the message AWS sends.
func TestValidationError_AWSWording(t *testing.T) {
	got := ValidationError("records.1.member.partitionKey", "", "Member must have length greater than or equal to 1").Message
	want := "1 validation error detected: Value '' at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got = ValidationError("streamName", "null", "Member must not be null").Message
	if want := "1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
