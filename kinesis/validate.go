package kinesis

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Input validation in the manner of the AWS service framework: every
// constraint of the table (model.go: required members, lengths, patterns,
// ranges, enumerations) is checked before the operation runs, the failures
// are gathered, and one ValidationException reports up to ten of them, the
// members in alphabetical order and each with every constraint it breaks:
//
//	2 validation errors detected: Value '0' at 'shardCount' failed to satisfy
//	constraint: Member must have value greater than or equal to 1; Value 'a b'
//	at 'streamName' failed to satisfy constraint: Member must satisfy regular
//	expression pattern: [a-zA-Z0-9_.-]+
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
	// present is the presence set of the input (see Decoder.present),
	// known whether there is one; elemPresent holds those of the
	// elements of its list of structures (PutRecords' Records).
	present     uint64
	known       bool
	elemPresent []uint8
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

// validateInput checks in, the decoded input of op (a pointer to its
// shape), against op's table (model.go) and returns the ValidationException
// listing every constraint it breaks, or nil. present holds the presence
// bits of in's members, which tell an empty string sent from an absent
// member (Decoder.present). It allocates nothing when in is valid.
func validateInput(op Operation, in any, present uint64) error {
	return validate(op, in, present, nil)
}

// validateRecords is validateInput for PutRecords, whose decoder keeps the
// presence sets of the entries (elemPresent, one per entry) apart from
// them.
func validateRecords(in *PutRecordsInput, present uint64, elemPresent []uint8) error {
	return validate(OpPutRecords, in, present, elemPresent)
}

func validate(op Operation, in any, present uint64, elemPresent []uint8) error {
	rv := reflect.ValueOf(in)
	if rv.Kind() != reflect.Pointer || rv.Type().Elem() != shapeOf[op] || rv.IsNil() {
		return fmt.Errorf("kinesis: validate %s: input is %T, not *%s", op, in, shapeOf[op])
	}
	v := validator{present: present, known: true, elemPresent: elemPresent}
	v.members(opModels[op], rv.UnsafePointer(), present, true, where{})
	return v.err()
}

// where is the path of a structure's members in messages: top level, a
// nested structure ("streamModeDetails.streamMode") or an element of a list
// of structures ("records.3.member.data"). It builds the path only for a
// failure.
type where struct {
	parent string
	index  int // 1-based element of the list parent, 0 for none
}

func (w where) path(name string) string {
	switch {
	case w.parent == "":
		return name
	case w.index == 0:
		return w.parent + "." + name
	}
	return w.parent + "." + strconv.Itoa(w.index) + ".member." + name
}

// members checks the members ms of the structure at base. known says
// whether present is a presence set of it (without one, an empty string is
// taken for an absent member).
func (v *validator) members(ms []member, base unsafe.Pointer, present uint64, known bool, w where) {
	for i := range ms {
		if v.n >= maxValidationErrors {
			return
		}
		mb := &ms[i]
		v.member(mb, base, known && present&(1<<mb.bit) != 0, w)
	}
}

// member checks one member of the structure at base; sent says that the
// body carried it (needed for strings, whose Go zero value is ambiguous,
// and structures held by value).
func (v *validator) member(mb *member, base unsafe.Pointer, sent bool, w where) {
	switch mb.typ {
	case typeString:
		s := mb.stringIn(base)
		if s == "" && !sent {
			v.null(mb, w)
			return
		}
		v.text(mb, w, s)
	case typeInteger:
		x, ok := mb.int32In(base)
		if !ok {
			v.null(mb, w)
			return
		}
		if !mb.hasRange {
			return
		}
		if int64(x) < mb.minVal {
			v.fail(w.path(mb.name), strconv.FormatInt(int64(x), 10), "Member must have value greater than or equal to "+strconv.FormatInt(mb.minVal, 10))
		}
		if int64(x) > mb.maxVal {
			v.fail(w.path(mb.name), strconv.FormatInt(int64(x), 10), "Member must have value less than or equal to "+strconv.FormatInt(mb.maxVal, 10))
		}
	case typeBlob:
		b := mb.bytesIn(base)
		if b == nil {
			v.null(mb, w)
			return
		}
		if n := len(b); mb.hasLen && (n < mb.minLen || n > mb.maxLen) {
			v.lengthFail(w.path(mb.name), blobValue(n), n, mb)
		}
	case typeList:
		data, n, ok := mb.listIn(base)
		if !ok {
			v.null(mb, w)
			return
		}
		v.list(mb, data, n, w)
	case typeMap:
		tags := mb.tagsIn(base)
		if tags == nil {
			v.null(mb, w)
			return
		}
		v.mapMember(mb, tags, w)
	case typeStructure:
		p := mb.structIn(base)
		if p == nil || !mb.layout.ptr && !sent {
			v.null(mb, w)
			return
		}
		v.members(mb.fields, p, v.present>>nestedShift, v.known, where{parent: w.path(mb.name)})
	}
}

// null records an absent member if it is required.
func (v *validator) null(mb *member, w where) {
	if mb.required {
		v.fail(w.path(mb.name), "null", "Member must not be null")
	}
}

// nestedShift places the presence set of a shape's one nested structure
// (streamModeDetails, shardFilter, startingPosition) in the shape's set:
// shapes have fewer top-level members than this.
const nestedShift = 32

// text checks a present string member against every constraint it has,
// reporting each it breaks, in AWS's order: pattern, length, enumeration.
func (v *validator) text(mb *member, w where, s string) {
	if p := mb.pattern; p != nil && !p.match(s) {
		v.fail(w.path(mb.name), clipValue(s), "Member must satisfy regular expression pattern: "+p.text)
	}
	if mb.hasLen {
		n := len(s)
		if n > mb.maxLen || n < mb.minLen {
			n = utf8.RuneCountInString(s) // lengths count characters; bytes bound them
		}
		if n < mb.minLen || n > mb.maxLen {
			v.lengthFail(w.path(mb.name), clipValue(s), n, mb)
		}
	}
	if mb.enum != nil && !inEnum(mb.enum, s) {
		v.fail(w.path(mb.name), clipValue(s), "Member must satisfy enum value set: ["+strings.Join(mb.enum, ", ")+"]")
	}
}

// lengthFail records a length of n outside mb's bounds.
func (v *validator) lengthFail(path, value string, n int, mb *member) {
	if n < mb.minLen {
		v.fail(path, value, "Member must have length greater than or equal to "+strconv.Itoa(mb.minLen))
	} else {
		v.fail(path, value, "Member must have length less than or equal to "+strconv.Itoa(mb.maxLen))
	}
}

// list checks a list's length and its elements: structures member by
// member ("records.1.member.data"), scalars together, as AWS reports them
// ("Member must satisfy constraint: [...]" at the list).
func (v *validator) list(mb *member, data unsafe.Pointer, n int, w where) {
	if mb.hasLen && (n < mb.minLen || n > mb.maxLen) {
		v.lengthFail(w.path(mb.name), listValue(mb, data, n), n, mb)
	}
	e := mb.elem
	if e == nil {
		return
	}
	if e.typ == typeStructure {
		path := w.path(mb.name)
		for i := 0; i < n && v.n < maxValidationErrors; i++ {
			var present uint64
			known := i < len(v.elemPresent)
			if known {
				present = uint64(v.elemPresent[i])
			}
			v.members(e.fields, mb.structElem(data, i), present, known, where{parent: path, index: i + 1})
		}
		return
	}
	for i := 0; i < n; i++ {
		if !scalarOK(e, stringElem(data, i)) {
			v.fail(w.path(mb.name), listValue(mb, data, n), "Member must satisfy constraint: ["+constraintsOf(e)+"]")
			return
		}
	}
}

// mapMember checks a map of strings: its size, then its keys and its
// values together.
func (v *validator) mapMember(mb *member, tags map[string]string, w where) {
	if mb.hasLen && (len(tags) < mb.minLen || len(tags) > mb.maxLen) {
		v.lengthFail(w.path(mb.name), mapValue(tags), len(tags), mb)
	}
	keys := sortedKeys(tags)
	for _, k := range keys {
		if !scalarOK(mb.key, k) {
			v.fail(w.path(mb.name), mapValue(tags), "Map keys must satisfy constraint: ["+constraintsOf(mb.key)+"]")
			break
		}
	}
	for _, k := range keys {
		if !scalarOK(mb.elem, tags[k]) {
			v.fail(w.path(mb.name), mapValue(tags), "Map value must satisfy constraint: ["+constraintsOf(mb.elem)+"]")
			break
		}
	}
}

// scalarOK reports whether a string element meets every constraint of e.
func scalarOK(e *member, s string) bool {
	if e.pattern != nil && !e.pattern.match(s) {
		return false
	}
	if e.hasLen {
		if n := utf8.RuneCountInString(s); n < e.minLen || n > e.maxLen {
			return false
		}
	}
	return e.enum == nil || inEnum(e.enum, s)
}

// constraintsOf lists an element's constraints as AWS's messages do.
func constraintsOf(e *member) string {
	var cs []string
	if e.hasLen {
		cs = append(cs, "Member must have length less than or equal to "+strconv.Itoa(e.maxLen),
			"Member must have length greater than or equal to "+strconv.Itoa(e.minLen))
	}
	if e.pattern != nil {
		cs = append(cs, "Member must satisfy regular expression pattern: "+e.pattern.text)
	}
	if e.enum != nil {
		cs = append(cs, "Member must satisfy enum value set: ["+strings.Join(e.enum, ", ")+"]")
	}
	return strings.Join(cs, ", ")
}

func inEnum(values []string, s string) bool {
	for _, x := range values {
		if s == x {
			return true
		}
	}
	return false
}

// listValue prints a list as AWS does: its elements, or for a list of
// structures its number of items.
func listValue(mb *member, data unsafe.Pointer, n int) string {
	if n == 0 {
		return "[]"
	}
	if !mb.layout.stringElems {
		return "[" + strconv.Itoa(n) + " items]"
	}
	items := make([]string, n)
	for i := range items {
		items[i] = stringElem(data, i)
	}
	return clipValue("[" + strings.Join(items, ", ") + "]")
}

// mapValue prints a map as AWS does: {key=value, ...}.
func mapValue(m map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + "=" + m[k])
	}
	b.WriteByte('}')
	return clipValue(b.String())
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// entryMember returns the member path of field of PutRecords entry i.
func entryMember(i int, field string) string {
	return where{parent: "records", index: i + 1}.path(field)
}
