package kinesis

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Input validation in the manner of the AWS service framework: every
// constraint of the model (required members, lengths, patterns, ranges,
// enumerations) is checked before the operation runs, the failures are
// gathered, and one ValidationException reports up to ten of them:
//
//	2 validation errors detected: Value null at 'streamName' failed to satisfy
//	constraint: Member must not be null; Value '0' at 'shardCount' failed to
//	satisfy constraint: Member must have value greater than or equal to 1
//
// Member paths are lower camel case, list members are numbered from 1
// ("records.3.member.partitionKey"). Constraints that depend on state (a
// stream's record size limit, a shard's range) are the operation's business
// and come back as InvalidArgumentException and the like.

// maxValidationErrors is how many failures one message lists, as AWS does.
const maxValidationErrors = 10

// Patterns of the model, as the messages quote them.
const (
	patternName       = "[a-zA-Z0-9_.-]+"
	patternHashKey    = "0|([1-9]\\d{0,38})"
	patternSeqNum     = "0|([1-9]\\d{0,128})"
	patternStreamARN  = "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"
	patternConsumer   = "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+"
	patternAnyARN     = "arn:aws.*:kinesis:.*:\\d{12}:.+"
	maxARNLen         = 2048
	maxNameLen        = 128
	maxKeyIDLen       = 2048
	maxPolicyLen      = 20480
	maxNextTokenLen   = 1048576
	maxIteratorLen    = 512
	maxPartitionKey   = 256
	maxTagKeyLen      = 128
	maxTagValueLen    = 256
	maxTagsPerCall    = 200
	maxTagKeysPerCall = 50
)

// validator gathers the constraint failures of one request. The zero value
// is ready; it allocates only when a failure is recorded.
type validator struct {
	msgs []string
	n    int // failures seen, including those past maxValidationErrors
}

// fail records that value (as AWS prints it; "null" for an absent member)
// at member breaks constraint.
func (v *validator) fail(member, value, constraint string) {
	v.n++
	if len(v.msgs) >= maxValidationErrors {
		return
	}
	if value != "null" {
		value = "'" + value + "'"
	}
	v.msgs = append(v.msgs, "Value "+value+" at '"+member+"' failed to satisfy constraint: "+constraint)
}

// err returns the ValidationException for the failures, or nil.
func (v *validator) err() error {
	if len(v.msgs) == 0 {
		return nil
	}
	plural := "s"
	if len(v.msgs) == 1 {
		plural = ""
	}
	return Errorf(CodeValidation, "%d validation error%s detected: %s", len(v.msgs), plural, strings.Join(v.msgs, "; "))
}

// required checks that a member is present.
func (v *validator) required(member string, present bool) bool {
	if !present {
		v.fail(member, "null", "Member must not be null")
	}
	return present
}

// stream checks the StreamName and StreamARN members that name the stream
// of an operation (streamOf checks that they name one).
func (v *validator) stream(name, arn string) {
	v.name("streamName", name)
	v.streamARN("streamARN", arn)
}

// requiredName checks a required member of the name pattern (a stream,
// shard or consumer name).
func (v *validator) requiredName(member, s string) {
	if v.requiredString(member, s) {
		v.name(member, s)
	}
}

// resource checks the ResourceARN member of the tagging and policy
// operations.
func (v *validator) resource(arn string) {
	if v.requiredString("resourceARN", arn) {
		v.resourceARN("resourceARN", arn)
	}
}

// requiredString checks that a string member is present (the shapes read an
// absent member and "" alike; every string of the model has a minimum length
// of 1, so "" is never valid).
func (v *validator) requiredString(member, s string) bool {
	return v.required(member, s != "")
}

// length checks a string's length in characters against [min, max]; an
// absent (empty) optional member is not checked.
func (v *validator) length(member, s string, min, max int) bool {
	if s == "" {
		return true
	}
	n := len(s)
	if n > max || n < min {
		n = utf8.RuneCountInString(s) // lengths count characters; bytes bound them
	}
	switch {
	case n > max:
		v.fail(member, clipValue(s), "Member must have length less than or equal to "+strconv.Itoa(max))
		return false
	case n < min:
		v.fail(member, clipValue(s), "Member must have length greater than or equal to "+strconv.Itoa(min))
		return false
	}
	return true
}

// pattern records a pattern failure when ok is false.
func (v *validator) pattern(member, s, pattern string, ok bool) bool {
	if s != "" && !ok {
		v.fail(member, clipValue(s), "Member must satisfy regular expression pattern: "+pattern)
		return false
	}
	return true
}

// name checks an optional stream, shard or consumer name: 1..128 of [a-zA-Z0-9_.-].
func (v *validator) name(member, s string) bool {
	return v.length(member, s, 1, maxNameLen) && v.pattern(member, s, patternName, validName(s))
}

// streamARN checks an optional stream ARN.
func (v *validator) streamARN(member, s string) bool {
	return v.length(member, s, 1, maxARNLen) && v.pattern(member, s, patternStreamARN, matchStreamARN(s))
}

// consumerARN checks an optional consumer ARN.
func (v *validator) consumerARN(member, s string) bool {
	return v.length(member, s, 1, maxARNLen) && v.pattern(member, s, patternConsumer, matchConsumerARN(s))
}

// resourceARN checks an optional stream or consumer ARN.
func (v *validator) resourceARN(member, s string) bool {
	return v.length(member, s, 1, maxARNLen) && v.pattern(member, s, patternAnyARN, matchAnyARN(s))
}

// hashKey checks an optional decimal hash key's pattern.
func (v *validator) hashKey(member, s string) bool {
	return v.pattern(member, s, patternHashKey, matchDecimal(s, 39))
}

// seqNum checks an optional sequence number's pattern.
func (v *validator) seqNum(member, s string) bool {
	return v.pattern(member, s, patternSeqNum, matchDecimal(s, 129))
}

// intRange checks an optional integer member against [min, max].
func (v *validator) intRange(member string, p *int32, min, max int64) bool {
	if p == nil {
		return true
	}
	x := int64(*p)
	switch {
	case x < min:
		v.fail(member, strconv.FormatInt(x, 10), "Member must have value greater than or equal to "+strconv.FormatInt(min, 10))
		return false
	case x > max:
		v.fail(member, strconv.FormatInt(x, 10), "Member must have value less than or equal to "+strconv.FormatInt(max, 10))
		return false
	}
	return true
}

// enum checks an optional enumeration member against its values.
func (v *validator) enum(member, s string, values ...string) bool {
	if s == "" {
		return true
	}
	for _, x := range values {
		if s == x {
			return true
		}
	}
	v.fail(member, clipValue(s), "Member must satisfy enum value set: ["+strings.Join(values, ", ")+"]")
	return false
}

// listLength checks the number of elements of an optional list or map.
func (v *validator) listLength(member string, n int, present bool, min, max int) bool {
	if !present {
		return true
	}
	switch {
	case n < min:
		v.fail(member, "["+strconv.Itoa(n)+" items]", "Member must have length greater than or equal to "+strconv.Itoa(min))
		return false
	case n > max:
		v.fail(member, "["+strconv.Itoa(n)+" items]", "Member must have length less than or equal to "+strconv.Itoa(max))
		return false
	}
	return true
}

// tags checks a tag map: 1..200 entries (per call), keys 1..128 and values
// 0..256 characters.
func (v *validator) tags(member string, tags map[string]string, required bool) {
	if tags == nil {
		if required {
			v.required(member, false)
		}
		return
	}
	if !v.listLength(member, len(tags), true, 1, maxTagsPerCall) {
		return
	}
	for k, val := range tags {
		if n := utf8.RuneCountInString(k); n < 1 || n > maxTagKeyLen {
			v.fail(member, "{"+clipValue(k)+"="+clipValue(val)+"}",
				"Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]")
			return
		}
		if utf8.RuneCountInString(val) > maxTagValueLen {
			v.fail(member, "{"+clipValue(k)+"="+clipValue(val)+"}",
				"Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]")
			return
		}
	}
}

// tagKeys checks a list of tag keys: 1..50 keys of 1..128 characters.
func (v *validator) tagKeys(member string, keys []string) {
	if !v.required(member, keys != nil) || !v.listLength(member, len(keys), true, 1, maxTagKeysPerCall) {
		return
	}
	for _, k := range keys {
		if n := utf8.RuneCountInString(k); n < 1 || n > maxTagKeyLen {
			v.fail(member, "["+clipValue(strings.Join(keys, ", "))+"]",
				"Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]")
			return
		}
	}
}

// blobValue prints a blob the way AWS's messages do.
func blobValue(n int) string {
	s := strconv.Itoa(n)
	return "java.nio.HeapByteBuffer[pos=0 lim=" + s + " cap=" + s + "]"
}

// clipValue shortens a value quoted in a message.
func clipValue(s string) string {
	if len(s) <= 1024 {
		return s
	}
	cut := 1024
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// matchDecimal reports whether s matches 0|([1-9]\d{0,max-1}).
func matchDecimal(s string, max int) bool {
	if s == "" || len(s) > max || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// arnHead checks the common part of the ARN patterns,
// arn:aws.*:kinesis:.*:\d{12}:, and returns what follows it.
func arnHead(s string) (rest string, ok bool) {
	rest, ok = strings.CutPrefix(s, "arn:aws")
	if !ok {
		return "", false
	}
	i := strings.Index(rest, ":kinesis:")
	if i < 0 {
		return "", false
	}
	rest = rest[i+len(":kinesis:"):]
	// .*:\d{12}: : find a colon followed by 12 digits and a colon.
	for j := 0; j+14 <= len(rest); j++ {
		if rest[j] == ':' && rest[j+13] == ':' && isDigits(rest[j+1:j+13], 12) {
			return rest[j+14:], true
		}
	}
	return "", false
}

// matchStreamARN reports whether s matches arn:aws.*:kinesis:.*:\d{12}:stream/\S+.
func matchStreamARN(s string) bool {
	rest, ok := arnHead(s)
	if !ok {
		return false
	}
	name, ok := strings.CutPrefix(rest, "stream/")
	return ok && name != "" && !strings.ContainsAny(name, " \t\r\n\f\v")
}

// matchConsumerARN reports whether s matches the consumer ARN pattern.
func matchConsumerARN(s string) bool {
	rest, ok := arnHead(s)
	if !ok {
		return false
	}
	i := strings.Index(rest, "stream/")
	if i < 0 {
		return false
	}
	stream, consumer, ok := strings.Cut(rest[i+len("stream/"):], "/consumer/")
	if !ok || !validName(stream) {
		return false
	}
	name, epoch, ok := strings.Cut(consumer, ":")
	return ok && validName(name) && epoch != "" && strings.Trim(epoch, "0123456789") == ""
}

// matchAnyARN reports whether s matches arn:aws.*:kinesis:.*:\d{12}:.+.
func matchAnyARN(s string) bool {
	rest, ok := arnHead(s)
	return ok && rest != ""
}
