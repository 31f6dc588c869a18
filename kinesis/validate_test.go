package kinesis

import (
	"errors"
	"strings"
	"testing"
)

func TestMatchARNs(t *testing.T) {
	cases := []struct {
		s                       string
		stream, consumer, other bool
	}{
		{"arn:aws:kinesis:us-east-1:123456789012:stream/orders", true, false, true},
		{"arn:aws-cn:kinesis:cn-north-1:123456789012:stream/a.b_c-d", true, false, true},
		{"arn:aws:kinesis:us-east-1:123456789012:stream/orders/consumer/app:1700000000", true, true, true},
		{"arn:aws:kinesis:us-east-1:12345678901:stream/orders", false, false, false},
		{"arn:aws:kinesis:us-east-1:123456789012:stream/", false, false, true},
		{"arn:aws:kinesis:us-east-1:123456789012:stream/has space", false, false, true},
		{"arn:aws:s3:::bucket", false, false, false},
		{"arn:aws:kinesis:us-east-1:123456789012:stream/orders/consumer/app:", true, false, true},
		{"arn:aws:kinesis:us-east-1:123456789012:stream/orders/consumer/app:17x", true, false, true},
		{"stream/orders", false, false, false},
	}
	for _, c := range cases {
		if got := matchStreamARN(c.s); got != c.stream {
			t.Errorf("matchStreamARN(%q) = %v", c.s, got)
		}
		if got := matchConsumerARN(c.s); got != c.consumer {
			t.Errorf("matchConsumerARN(%q) = %v", c.s, got)
		}
		if got := matchAnyARN(c.s); got != c.other {
			t.Errorf("matchAnyARN(%q) = %v", c.s, got)
		}
	}
}

func TestMatchDecimal(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "7": true, "340282366920938463463374607431768211455": true, "00": false, "01": false, "": false,
		"-1": false, "1.5": false, strings.Repeat("9", 39): true, strings.Repeat("9", 40): false,
	} {
		if got := matchDecimal(s, 39); got != want {
			t.Errorf("matchDecimal(%q, 39) = %v", s, got)
		}
	}
}

func TestValidator_Messages(t *testing.T) {
	var v validator
	if err := v.err(); err != nil {
		t.Fatalf("no failures: %v", err)
	}
	v.requiredString("streamName", "")
	limit := int32(0)
	v.intRange("limit", &limit, 1, 10000)
	v.enum("type", "SOMEWHERE", "A", "B")
	err := v.err()
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeValidation {
		t.Fatalf("err = %v", err)
	}
	want := "3 validation errors detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null; " +
		"Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1; " +
		"Value 'SOMEWHERE' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [A, B]"
	if e.Message != want {
		t.Fatalf("message\n%s\nwant\n%s", e.Message, want)
	}
	// At most ten failures are listed, as AWS lists them.
	var many validator
	for range 15 {
		many.requiredString("x", "")
	}
	if err := many.err(); !strings.HasPrefix(err.(*Error).Message, "10 validation errors detected") {
		t.Fatalf("15 failures: %v", err)
	}
	// Lengths count characters, not bytes.
	var chars validator
	chars.length("k", strings.Repeat("é", 256), 1, 256)
	if err := chars.err(); err != nil {
		t.Fatalf("256 two-byte characters: %v", err)
	}
}

func TestCheckRecord_NoAllocations(t *testing.T) {
	data := []byte("payload")
	allocs := testing.AllocsPerRun(100, func() {
		var v validator
		checkRecord(&v, 3, data, "partition-key", "12345")
		if v.n != 0 {
			t.Fatal("a valid record failed validation")
		}
	})
	if allocs != 0 {
		t.Fatalf("validating a valid record allocates %.0f times", allocs)
	}
}
