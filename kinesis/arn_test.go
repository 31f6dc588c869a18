package kinesis

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestARNScope_FormatAndParse(t *testing.T) {
	s := DefaultARNScope()
	if got := s.StreamARN("orders"); got != "arn:aws:kinesis:us-east-1:000000000000:stream/orders" {
		t.Errorf("StreamARN = %s", got)
	}
	created := time.Unix(1530034495, 999e6)
	carn := s.ConsumerARN("orders", "billing.v2", created)
	if carn != "arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/billing.v2:1530034495" {
		t.Errorf("ConsumerARN = %s", carn)
	}
	a, err := ParseARN(carn)
	if err != nil {
		t.Fatal(err)
	}
	want := ARN{Partition: "aws", Region: "us-east-1", Account: "000000000000", Stream: "orders", Consumer: "billing.v2", ConsumerCreated: 1530034495}
	if a != want || !a.IsConsumer() || a.String() != carn || !s.Owns(a) {
		t.Errorf("ParseARN = %+v", a)
	}
	a, err = ParseARN("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/my_stream-1")
	if err != nil || a.IsConsumer() || a.Stream != "my_stream-1" || a.Partition != "aws-cn" || s.Owns(a) {
		t.Errorf("ParseARN(cn) = %+v, %v", a, err)
	}
	other := ARNScope{Region: "eu-west-1", Account: "123456789012"}
	if err := other.Validate(); err != nil {
		t.Fatal(err)
	}
	a, _ = ParseARN(other.StreamARN("x"))
	if !other.Owns(a) || s.Owns(a) {
		t.Error("Owns ignores the region and account")
	}
}

func TestParseARN_Malformed(t *testing.T) {
	for _, bad := range []string{
		"",
		"arn:aws:kinesis:us-east-1:000000000000",
		"arn:aws:sqs:us-east-1:000000000000:stream/x",
		"arn:gcp:kinesis:us-east-1:000000000000:stream/x",
		"arn:aws:kinesis::000000000000:stream/x",
		"arn:aws:kinesis:us-east-1:0000:stream/x",
		"arn:aws:kinesis:us-east-1:000000000000:table/x",
		"arn:aws:kinesis:us-east-1:000000000000:stream/",
		"arn:aws:kinesis:us-east-1:000000000000:stream/bad name",
		"arn:aws:kinesis:us-east-1:000000000000:stream/" + strings.Repeat("x", 129),
		"arn:aws:kinesis:us-east-1:000000000000:stream/x/consumer/c",
		"arn:aws:kinesis:us-east-1:000000000000:stream/x/consumer/:1",
		"arn:aws:kinesis:us-east-1:000000000000:stream/x/consumer/c:-1",
		"arn:aws:kinesis:us-east-1:000000000000:stream/x/consumer/c:+1",
		"arn:aws:kinesis:us-east-1:000000000000:stream/x/consumer/c:1x",
	} {
		if _, err := ParseARN(bad); !errors.Is(err, ErrMalformedARN) {
			t.Errorf("ParseARN(%q) err = %v", bad, err)
		}
	}
}

func TestARNScope_Validate(t *testing.T) {
	for _, bad := range []ARNScope{{Account: "12"}, {Region: "us:east"}, {Partition: "gcp"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
	if err := (ARNScope{}).Validate(); err != nil {
		t.Errorf("the zero scope (defaults) is invalid: %v", err)
	}
}

func TestParseTarget(t *testing.T) {
	op, err := ParseTarget("Kinesis_20131202.PutRecords")
	if err != nil || op != OpPutRecords || op.String() != "PutRecords" {
		t.Fatalf("ParseTarget = %v, %v", op, err)
	}
	if _, ok := op.NewInput().(*PutRecordsInput); !ok {
		t.Errorf("NewInput() = %T", op.NewInput())
	}
	for _, bad := range []string{"", "PutRecords", "Kinesis_20131202.", "Kinesis_20131202.putRecords", "DynamoDB_20120810.PutItem",
		"Kinesis_20131202.CreateChannel", "Kinesis_20131202.PutRecords "} {
		_, err := ParseTarget(bad)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeUnknownOperation || e.Status != 400 {
			t.Errorf("ParseTarget(%q) err = %v", bad, err)
		}
	}
	for op := Operation(1); op < opCount; op++ {
		got, err := ParseTarget(TargetPrefix + op.String())
		if err != nil || got != op || op.NewInput() == nil {
			t.Errorf("%v does not round-trip", op)
		}
	}
	if Operation(0).String() != "UnknownOperation" || opCount.NewInput() != nil {
		t.Error("invalid operations are not reported as such")
	}
}
