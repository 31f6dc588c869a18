package kinesis

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of ARNScope: the region and account of the ARNs sluice mints when
// none are configured (the account id LocalStack and kinesis-mock also use).
const (
	DefaultPartition = "aws"
	DefaultRegion    = "us-east-1"
	DefaultAccount   = "000000000000"
)

// ErrMalformedARN is wrapped by ParseARN's errors.
var ErrMalformedARN = errors.New("kinesis: malformed ARN")

// ARNScope is the partition, region and account that a server's ARNs name:
//
//	arn:aws:kinesis:us-east-1:000000000000:stream/orders
//	arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/billing:1700000000
type ARNScope struct {
	// Partition is "aws" unless configured otherwise ("aws-cn", "aws-us-gov").
	Partition string
	// Region is the region ARNs name. Default DefaultRegion.
	Region string
	// Account is the 12-digit account id ARNs name. Default DefaultAccount.
	Account string
}

// DefaultARNScope returns the scope of DefaultPartition, DefaultRegion and DefaultAccount.
func DefaultARNScope() ARNScope {
	return ARNScope{Partition: DefaultPartition, Region: DefaultRegion, Account: DefaultAccount}
}

// withDefaults fills the empty fields of s.
func (s ARNScope) withDefaults() ARNScope {
	if s.Partition == "" {
		s.Partition = DefaultPartition
	}
	if s.Region == "" {
		s.Region = DefaultRegion
	}
	if s.Account == "" {
		s.Account = DefaultAccount
	}
	return s
}

// Validate checks that the scope can mint ARNs that ParseARN reads back.
func (s ARNScope) Validate() error {
	s = s.withDefaults()
	switch {
	case !strings.HasPrefix(s.Partition, "aws") || strings.ContainsAny(s.Partition, ": /"):
		return fmt.Errorf("kinesis: ARN partition %q must start with \"aws\" and hold no ':', '/' or space", s.Partition)
	case strings.ContainsAny(s.Region, ": /"):
		return fmt.Errorf("kinesis: ARN region %q must hold no ':', '/' or space", s.Region)
	case !isDigits(s.Account, 12):
		return fmt.Errorf("kinesis: ARN account %q must be 12 digits", s.Account)
	}
	return nil
}

// StreamARN returns the ARN of a stream.
func (s ARNScope) StreamARN(stream string) string {
	s = s.withDefaults()
	return "arn:" + s.Partition + ":kinesis:" + s.Region + ":" + s.Account + ":stream/" + stream
}

// ConsumerARN returns the ARN of a consumer of a stream, registered at
// created (the ARN carries the registration time in epoch seconds, so a
// consumer registered again under the same name gets a new ARN).
func (s ARNScope) ConsumerARN(stream, consumer string, created time.Time) string {
	return s.StreamARN(stream) + "/consumer/" + consumer + ":" + strconv.FormatInt(created.Unix(), 10)
}

// Owns reports whether a names a resource of this scope (same partition,
// region and account). A well-formed ARN of another scope names a resource
// that does not exist here.
func (s ARNScope) Owns(a ARN) bool {
	s = s.withDefaults()
	return a.Partition == s.Partition && a.Region == s.Region && a.Account == s.Account
}

// ARN is a parsed stream or consumer ARN.
type ARN struct {
	Partition, Region, Account string
	// Stream is the stream name.
	Stream string
	// Consumer is the consumer name; empty for a stream ARN.
	Consumer string
	// ConsumerCreated is the consumer's registration time in epoch seconds.
	ConsumerCreated int64
}

// IsConsumer reports whether a is a consumer ARN.
func (a ARN) IsConsumer() bool { return a.Consumer != "" }

// String formats a back into its ARN.
func (a ARN) String() string {
	s := "arn:" + a.Partition + ":kinesis:" + a.Region + ":" + a.Account + ":stream/" + a.Stream
	if a.Consumer != "" {
		s += "/consumer/" + a.Consumer + ":" + strconv.FormatInt(a.ConsumerCreated, 10)
	}
	return s
}

// ParseARN parses a stream ARN or a consumer ARN. Errors wrap
// ErrMalformedARN and say which part is wrong.
func ParseARN(s string) (ARN, error) {
	fail := func(format string, args ...any) (ARN, error) {
		return ARN{}, fmt.Errorf("%w %q: %s", ErrMalformedARN, s, fmt.Sprintf(format, args...))
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return fail("an ARN has the form arn:<partition>:kinesis:<region>:<account>:stream/<name>")
	}
	a := ARN{Partition: parts[1], Region: parts[3], Account: parts[4]}
	switch {
	case !strings.HasPrefix(a.Partition, "aws"):
		return fail("the partition must start with \"aws\"")
	case parts[2] != "kinesis":
		return fail("the service is %q; it must be kinesis", parts[2])
	case a.Region == "":
		return fail("the region is empty")
	case !isDigits(a.Account, 12):
		return fail("the account must be 12 digits")
	}
	resource, ok := strings.CutPrefix(parts[5], "stream/")
	if !ok {
		return fail("the resource must be stream/<name>")
	}
	stream, consumer, isConsumer := strings.Cut(resource, "/consumer/")
	if !validName(stream) {
		return fail("the stream name %q must be 1..128 characters of a-z, A-Z, 0-9, '_', '.' and '-'", stream)
	}
	a.Stream = stream
	if !isConsumer {
		return a, nil
	}
	name, epoch, ok := strings.Cut(consumer, ":")
	if !ok {
		return fail("a consumer ARN ends in /consumer/<name>:<creation epoch seconds>")
	}
	if !validName(name) {
		return fail("the consumer name %q must be 1..128 characters of a-z, A-Z, 0-9, '_', '.' and '-'", name)
	}
	created, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || created < 0 || !isDigits(epoch, len(epoch)) {
		return fail("the consumer creation time %q must be epoch seconds", epoch)
	}
	a.Consumer, a.ConsumerCreated = name, created
	return a, nil
}

// validName reports whether s is a valid stream, consumer or shard name:
// 1..128 characters of [a-zA-Z0-9_.-].
func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// isDigits reports whether s is exactly n ASCII digits (n > 0).
func isDigits(s string, n int) bool {
	if n == 0 || len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
