package kinesis

import (
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
