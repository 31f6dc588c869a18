package kinesis

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// The wire types of a body's members are checked against the constraint
// table (model.go) before anything is decoded, with the
// SerializationException messages of AWS's JSON framework (which clients
// and recorded test suites match on): "Expected list or null", "Start of
// structure or map found where not expected.", "class java.lang.String can
// not be converted to an Integer" and the like. The same walk records which
// members the body carries (an empty string and an absent member decode
// alike) and refuses lists and strings longer than the model allows before
// they cost anything.

// wireKind is the kind of the next value of a body.
type wireKind uint8

const (
	kindNull wireKind = iota + 1
	kindBool
	kindNumber
	kindString
	kindBytes // CBOR byte strings
	kindList
	kindMap
)

// kind returns the kind of the next JSON value without consuming it.
func (r *jsonReader) kind() (wireKind, error) {
	b, err := r.peek()
	if err != nil {
		return 0, err
	}
	switch {
	case b == 'n':
		return kindNull, nil
	case b == 't' || b == 'f':
		return kindBool, nil
	case b == '"':
		return kindString, nil
	case b == '[':
		return kindList, nil
	case b == '{':
		return kindMap, nil
	case b == '-' || (b >= '0' && b <= '9'):
		return kindNumber, nil
	}
	return 0, r.errorf("invalid character %s looking for the beginning of a value", quoteByte(b))
}

// kind returns the kind of the next CBOR data item without consuming it.
func (r *cborReader) kind() (wireKind, error) {
	b, err := r.peek()
	if err != nil {
		return 0, err
	}
	switch b & cborMajorMask {
	case cborMajorUint, cborMajorNegInt, cborMajorTag:
		return kindNumber, nil
	case cborMajorBytes:
		return kindBytes, nil
	case cborMajorText:
		return kindString, nil
	case cborMajorArray:
		return kindList, nil
	case cborMajorMap:
		return kindMap, nil
	}
	switch b {
	case cborTrue, cborFalse:
		return kindBool, nil
	case cborNull, cborUndefined:
		return kindNull, nil
	}
	return kindNumber, nil // floats
}

// serializationError is a SerializationException with AWS's message.
func serializationError(msg string) *Error { return Errorf(CodeSerialization, "%s", msg) }

// Messages of AWS's JSON framework.
const (
	msgListNotExpected   = "Start of list found where not expected"
	msgStructNotExpected = "Start of structure or map found where not expected."
	msgTruncatingNumber  = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to "
	msgBooleanClass      = "class java.lang.Boolean can not be converted to "
	msgStringClass       = "class java.lang.String can not be converted to "
)

// mismatch returns the SerializationException for a value of kind k where
// mb's type is expected, or nil when k fits (null fits every type). A string
// where a boolean is expected is quoted in the message, so its text is read
// (and consumed) for that case only.
func mismatch(r tokenReader, mb *member, k wireKind, scratch []byte) (error, []byte) {
	if k == kindNull {
		return nil, scratch
	}
	switch mb.typ {
	case typeList:
		switch k {
		case kindList:
			return nil, scratch
		case kindMap:
			return serializationError(msgStructNotExpected), scratch
		}
		return serializationError("Expected list or null"), scratch
	case typeMap:
		switch k {
		case kindMap:
			return nil, scratch
		case kindList:
			return serializationError(msgListNotExpected), scratch
		}
		return serializationError("Expected map or null"), scratch
	case typeStructure:
		switch k {
		case kindMap:
			return nil, scratch
		case kindList:
			return serializationError(msgListNotExpected), scratch
		}
		return serializationError("Expected null"), scratch
	}
	// Scalars.
	switch k {
	case kindList:
		return serializationError(msgListNotExpected), scratch
	case kindMap:
		return serializationError(msgStructNotExpected), scratch
	}
	ok := false
	switch mb.typ {
	case typeString:
		ok = k == kindString
	case typeInteger, typeTimestamp:
		ok = k == kindNumber
	case typeBoolean:
		ok = k == kindBool
	case typeBlob:
		ok = k == kindString || k == kindBytes
	}
	if ok {
		return nil, scratch
	}
	switch k {
	case kindBool:
		return serializationError(msgBooleanClass + mb.typ.javaName()), scratch
	case kindNumber:
		return serializationError(msgTruncatingNumber + mb.typ.javaName()), scratch
	case kindString:
		if mb.typ == typeBoolean {
			s, scratch, _, err := r.readText(scratch, maxTextChars)
			if err != nil {
				return err, scratch
			}
			return booleanRefusal(s), scratch
		}
		return serializationError(msgStringClass + mb.typ.javaName()), scratch
	}
	return serializationError("Start of byte string found where not expected"), scratch
}

// checkMembers walks the members of the map r stands at, against ms, and
// returns the presence set of ms. c is the container slot to use (the walk
// of a nested structure uses the next one).
func (d *Decoder) checkMembers(r tokenReader, ms []member, c *container) (present uint64, err error) {
	for {
		var key []byte
		var ok bool
		key, d.scratch, ok, err = r.nextKey(c, d.scratch)
		if err != nil || !ok {
			return present, err
		}
		mb := memberOf(r, key, ms)
		if mb == nil {
			if err := r.skip(); err != nil {
				return present, err
			}
			continue
		}
		sent, err := d.checkValue(r, mb, c)
		if err != nil {
			return present, err
		}
		if sent {
			present |= 1 << mb.bit
		} else {
			present &^= 1 << mb.bit // a later null replaces an earlier value
		}
	}
}

// memberOf returns the member of ms that key names, or nil.
func memberOf(r tokenReader, key []byte, ms []member) *member {
	for i := range ms {
		if string(key) == ms[i].wire {
			return &ms[i]
		}
	}
	for i := range ms {
		if r.keyIs(key, ms[i].wire) {
			return &ms[i]
		}
	}
	return nil
}

// checkValue checks and consumes the value of member mb; sent is false for
// null.
func (d *Decoder) checkValue(r tokenReader, mb *member, c *container) (sent bool, err error) {
	k, err := r.kind()
	if err != nil {
		return false, err
	}
	if mb.typ == typeBoolean && k == kindString {
		if jr, ok := r.(*jsonReader); ok {
			return d.booleanText(jr)
		}
	}
	var bad error
	if bad, d.scratch = mismatch(r, mb, k, d.scratch); bad != nil {
		return false, bad
	}
	if k == kindNull {
		_, err := r.readNull()
		return false, err
	}
	switch mb.typ {
	case typeString:
		maxChars := maxTextChars
		switch {
		case mb.hasLen:
			maxChars = mb.maxLen
		case mb.pattern != nil && mb.pattern.maxChars > 0:
			maxChars = mb.pattern.maxChars
		}
		var s []byte
		s, d.scratch, _, err = r.readText(d.scratch, maxChars)
		if err != nil {
			return false, textRefusal(mb, mb.name, maxChars, err)
		}
		_ = s
		return true, nil
	case typeBlob:
		if k == kindString {
			var raw []byte
			raw, d.scratch, _, err = r.readText(d.scratch, maxBlobChars)
			if err != nil {
				return false, err
			}
			if msg := base64Problem(raw); msg != "" {
				return false, serializationError(msg)
			}
			return true, nil
		}
		return true, r.skip()
	case typeInteger:
		if jr, ok := r.(*jsonReader); ok {
			jr.ws()
			start := jr.pos
			if err := jr.skipNumber(); err != nil {
				return false, err
			}
			if fixed, ok := integerFix(jr.buf[start:jr.pos]); ok {
				d.numberFixes = append(d.numberFixes, numberFix{start: start, end: jr.pos, value: fixed})
			}
			return true, nil
		}
		return true, r.skip()
	case typeList:
		return true, d.checkList(r, mb, c)
	case typeMap:
		return true, d.checkMap(r, mb, c)
	case typeStructure:
		next := d.nextContainer(c)
		if *next, err = r.readMap(); err != nil {
			return false, err
		}
		nested, err := d.checkMembers(r, mb.fields, next)
		if c == &d.open[0] {
			d.nestedPresent = nested
		}
		return true, err
	}
	return true, r.skip()
}

// booleanOf reads a boolean written as a string, as AWS's framework does.
func booleanOf(s []byte) (v, ok bool) {
	switch strings.ToLower(string(s)) {
	case "true", "1", "yes":
		return true, true
	case "false", "0", "no":
		return false, true
	}
	return false, false
}

// booleanRefusal is AWS's SerializationException for a string that is no
// boolean.
func booleanRefusal(s []byte) error {
	return serializationError("'" + clipValue(strings.ToUpper(string(s))) + "' can not be converted to an Boolean")
}

// numberFix replaces body[start:end], an integer member's number, by
// value, or a boolean member's string by literal.
type numberFix struct {
	start, end int
	value      int32
	literal    string
}

// booleanText reads a boolean member sent as a string: AWS's framework reads
// "true", "false", "1", "0", "yes" and "no" (in any case) as booleans and
// refuses any other string, quoting it in capitals.
func (d *Decoder) booleanText(r *jsonReader) (sent bool, err error) {
	r.ws()
	start := r.pos
	var s []byte
	if s, d.scratch, _, err = r.readText(d.scratch, maxTextChars); err != nil {
		return false, err
	}
	v, ok := booleanOf(s)
	if !ok {
		return false, booleanRefusal(s)
	}
	literal := "false"
	if v {
		literal = "true"
	}
	d.numberFixes = append(d.numberFixes, numberFix{start: start, end: r.pos, literal: literal})
	return true, nil
}

// integerFix returns the value AWS's framework reads for an integer member
// written as num when that is not num itself: a fraction or an exponent is
// truncated toward negative infinity, and a value past the 32 bits of an
// Integer is clamped, so that the constraints judge what AWS would judge
// ("Value '2147483647' at 'shardCount' ..."). ok is false for a plain
// integer in range.
func integerFix(num []byte) (value int32, ok bool) {
	plain := len(num) > 0 && len(num) <= 11
	for i, c := range num {
		if !(c >= '0' && c <= '9' || c == '-' && i == 0) {
			plain = false
			break
		}
	}
	if plain {
		if n, err := strconv.ParseInt(string(num), 10, 32); err == nil {
			return int32(n), false
		}
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false // skipNumber accepted it: cannot happen
	}
	switch f = math.Floor(f); {
	case f >= math.MaxInt32:
		return math.MaxInt32, true
	case f <= math.MinInt32:
		return math.MinInt32, true
	}
	return int32(f), true
}

// fixNumbers returns a copy of body with d.numberFixes applied.
func (d *Decoder) fixNumbers(body []byte) []byte {
	out := make([]byte, 0, len(body)+11*len(d.numberFixes))
	prev := 0
	for _, f := range d.numberFixes {
		out = append(out, body[prev:f.start]...)
		if f.literal != "" {
			out = append(out, f.literal...)
		} else {
			out = strconv.AppendInt(out, int64(f.value), 10)
		}
		prev = f.end
	}
	return append(out, body[prev:]...)
}

// nextContainer returns the container slot after c for a nested value.
func (d *Decoder) nextContainer(c *container) *container {
	for i := range d.open[:len(d.open)-1] {
		if c == &d.open[i] {
			return &d.open[i+1]
		}
	}
	return new(container) // deeper than any request of the model nests
}

// textRefusal is the error of a string member the reader could not read:
// one certainly longer than the model allows gets the ValidationException
// of its constraint.
func textRefusal(mb *member, path string, maxChars int, err error) error {
	if errors.Is(err, errTooLong) && (mb.hasLen || mb.pattern != nil) {
		constraint := ""
		if mb.hasLen {
			constraint = "Member must have length less than or equal to " + strconv.Itoa(mb.maxLen)
		} else {
			constraint = "Member must satisfy regular expression pattern: " + mb.pattern.text
		}
		return Errorf(CodeValidation, "1 validation error detected: Value of more than %d characters at '%s' failed to satisfy constraint: %s",
			maxChars, path, constraint)
	}
	return err
}

// checkList checks a list's elements and counts them, stopping at the
// first past the model's limit.
func (d *Decoder) checkList(r tokenReader, mb *member, c *container) error {
	arr := d.nextContainer(c)
	var err error
	if *arr, err = r.readArray(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		ok, err := r.nextElement(arr)
		if !ok || err != nil {
			return err
		}
		if mb.hasLen && n == mb.maxLen {
			return ValidationError(mb.name, "["+strconv.Itoa(mb.maxLen+1)+" or more items]",
				"Member must have length less than or equal to "+strconv.Itoa(mb.maxLen))
		}
		if mb.elem == nil {
			err = r.skip()
		} else {
			_, err = d.checkValue(r, mb.elem, arr)
		}
		if err != nil {
			return err
		}
	}
}

// checkMap checks a map's values and counts its entries, stopping at the
// first past the model's limit.
func (d *Decoder) checkMap(r tokenReader, mb *member, c *container) error {
	mp := d.nextContainer(c)
	var err error
	if *mp, err = r.readMap(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		var ok bool
		_, d.scratch, ok, err = r.nextKey(mp, d.scratch)
		if !ok || err != nil {
			return err
		}
		if mb.hasLen && n == mb.maxLen {
			return ValidationError(mb.name, "["+strconv.Itoa(mb.maxLen+1)+" or more items]",
				"Member must have length less than or equal to "+strconv.Itoa(mb.maxLen))
		}
		if _, err := d.checkValue(r, mb.elem, mp); err != nil {
			return err
		}
	}
}

// base64Problem returns AWS's message for a blob that is not canonical
// padded base64, or "" when it is (line breaks, which decoders skip, are
// allowed).
func base64Problem(raw []byte) string {
	s := string(raw)
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", "", "\n", "").Replace(s)
	}
	quoted := "'" + clipValue(string(raw)) + "' can not be converted to a Blob: "
	if len(s)%4 != 0 {
		return quoted + "Base64 encoded length is expected a multiple of 4 bytes but found: " + strconv.Itoa(len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		case c == '=' && (i+1 == len(s) || s[i+1] == '='):
			// padding: only '=' may follow
		default:
			return quoted + "Invalid Base64 character: '" + string(c) + "'"
		}
	}
	// Padding only at the end, at most two, and the bits it leaves unused zero.
	pad := len(s) - len(strings.TrimRight(s, "="))
	if pad > 2 || strings.Contains(strings.TrimRight(s, "="), "=") {
		return quoted + "Invalid Base64 character: '='"
	}
	if pad > 0 && !canonicalTail(s[:len(s)-pad], pad) {
		return quoted + "Invalid last non-pad Base64 character dectected"
	}
	return ""
}

// canonicalTail reports whether the last character before pad padding
// characters leaves the bits the padding drops zero.
func canonicalTail(s string, pad int) bool {
	if s == "" {
		return false
	}
	c := s[len(s)-1]
	var v byte
	switch {
	case c >= 'A' && c <= 'Z':
		v = c - 'A'
	case c >= 'a' && c <= 'z':
		v = c - 'a' + 26
	case c >= '0' && c <= '9':
		v = c - '0' + 52
	case c == '+':
		v = 62
	default:
		v = 63
	}
	if pad == 1 {
		return v&0x3 == 0
	}
	return v&0xf == 0
}
