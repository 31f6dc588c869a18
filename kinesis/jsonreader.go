package kinesis

import (
	"bytes"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonSpecial marks the bytes a string scan must stop at: the closing quote,
// the escape character, control characters (invalid in JSON strings) and the
// first byte of every multi-byte UTF-8 sequence (validated separately).
var jsonSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	return t
}()

// jsonReader is a validating, allocation-free JSON (RFC 8259) reader over one
// request body. It accepts exactly the documents encoding/json accepts within
// the decoder limits (tokens.go): nesting, entries and string lengths.
type jsonReader struct {
	cursor
}

var errJSONTruncated = errors.New("JSON body ends in the middle of a value")

// ws skips insignificant whitespace.
func (r *jsonReader) ws() {
	for r.pos < len(r.buf) {
		switch r.buf[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// peek returns the next significant byte without consuming it.
func (r *jsonReader) peek() (byte, error) {
	r.ws()
	if r.pos >= len(r.buf) {
		return 0, errJSONTruncated
	}
	return r.buf[r.pos], nil
}

// end checks that only whitespace follows the top-level value.
func (r *jsonReader) end() error {
	r.ws()
	if r.pos != len(r.buf) {
		return r.errorf("unexpected %s after the top-level value", quoteByte(r.buf[r.pos]))
	}
	return nil
}

// readMap consumes the '{' of an object.
func (r *jsonReader) readMap() (container, error) { return r.open('{', "object") }

// readArray consumes '['.
func (r *jsonReader) readArray() (container, error) { return r.open('[', "array") }

// open consumes the opening byte of an object or array, and counts its depth.
func (r *jsonReader) open(opening byte, kind string) (container, error) {
	c, err := r.peek()
	if err != nil {
		return container{}, err
	}
	if c != opening {
		return container{}, r.errorf("expected a JSON %s, got %s", kind, jsonKindOf(c))
	}
	r.pos++
	r.depth++
	if r.depth > maxDepth {
		return container{}, limitError(&r.cursor, "JSON nesting deeper than %d levels", maxDepth)
	}
	return container{first: true}, nil
}

// nextMember advances to the next member of an object and returns its raw
// key (the bytes between the quotes) and whether the key needs unquoting. At
// the closing brace it returns ok=false. The ':' after the key is consumed.
func (r *jsonReader) nextMember(c *container) (key []byte, escaped, ok bool, err error) {
	b, err := r.peek()
	if err != nil {
		return nil, false, false, err
	}
	if b == '}' && c.first {
		r.pos++
		r.depth--
		return nil, false, false, nil
	}
	if !c.first {
		switch b {
		case '}':
			r.pos++
			r.depth--
			return nil, false, false, nil
		case ',':
			r.pos++
			if b, err = r.peek(); err != nil {
				return nil, false, false, err
			}
		default:
			return nil, false, false, r.errorf("expected ',' or '}' after an object member, got %s", quoteByte(b))
		}
	}
	c.first = false
	if b != '"' {
		return nil, false, false, r.errorf("expected a string for an object key, got %s", quoteByte(b))
	}
	if err := c.count(&r.cursor, "a JSON object"); err != nil {
		return nil, false, false, err
	}
	key, escaped, err = r.readString(maxTextChars)
	if err != nil {
		return nil, false, false, err
	}
	if b, err = r.peek(); err != nil {
		return nil, false, false, err
	}
	if b != ':' {
		return nil, false, false, r.errorf("expected ':' after an object key, got %s", quoteByte(b))
	}
	r.pos++
	return key, escaped, true, nil
}

// nextElement advances to the next element of an array; ok=false at ']'.
func (r *jsonReader) nextElement(c *container) (ok bool, err error) {
	b, err := r.peek()
	if err != nil {
		return false, err
	}
	if b == ']' {
		r.pos++
		r.depth--
		return false, nil
	}
	if !c.first {
		if b != ',' {
			return false, r.errorf("expected ',' or ']' after an array element, got %s", quoteByte(b))
		}
		r.pos++
	}
	c.first = false
	return true, c.count(&r.cursor, "a JSON array")
}

// nextKey advances to the next member of an object and returns its decoded
// key (see tokenReader).
func (r *jsonReader) nextKey(c *container, scratch []byte) (key, newScratch []byte, ok bool, err error) {
	key, escaped, ok, err := r.nextMember(c)
	if escaped {
		scratch = appendUnquoted(scratch[:0], key)
		key = scratch
	}
	return key, scratch, ok, err
}

// keyIs matches a member name as encoding/json does (see keyMatches).
func (r *jsonReader) keyIs(key []byte, name string) bool { return keyMatches(key, name) }

// readText reads a string or null and returns its decoded value: a slice of
// the body when it has no escape, else unquoted into scratch.
func (r *jsonReader) readText(scratch []byte, maxChars int) (s, newScratch []byte, null bool, err error) {
	if null, err := r.readNull(); null || err != nil {
		return nil, scratch, null, err
	}
	raw, escaped, err := r.readString(maxChars)
	if err != nil {
		return nil, scratch, false, err
	}
	if escaped {
		scratch = appendUnquoted(scratch[:0], raw)
		return scratch, scratch, false, nil
	}
	return raw, scratch, false, nil
}

// maxBlobChars is the length of the padded base64 of the largest record
// (base64.StdEncoding.EncodedLen(maxBlobBytes)).
const maxBlobChars = (maxBlobBytes + 2) / 3 * 4

// readBlob reads a base64 string or null and decodes it into d's blob buffer.
func (r *jsonReader) readBlob(d *Decoder) (data []byte, null bool, err error) {
	// Fast path (nearly every record): find the closing quote with the
	// vectorized IndexByte and base64-decode the bytes before it. Success
	// proves they are plain base64 characters, so the string has no escape
	// (hence that quote closes it) and no control character, once CR and LF,
	// which the base64 decoder skips, are ruled out. Anything else takes the
	// validating path below.
	r.ws()
	if r.pos < len(r.buf) && r.buf[r.pos] == '"' {
		seg := r.buf[r.pos+1:]
		if end := bytes.IndexByte(seg, '"'); end >= 0 && end <= maxBlobChars {
			seg = seg[:end]
			if bytes.IndexByte(seg, '\n') < 0 && bytes.IndexByte(seg, '\r') < 0 {
				if data, err := d.decodeBase64(seg); err == nil {
					r.pos += end + 2
					return data, false, nil
				}
			}
		}
	}
	var raw []byte
	raw, d.scratch, null, err = r.readText(d.scratch, maxBlobChars)
	switch {
	case errors.Is(err, errTooLong):
		return nil, false, fmt.Errorf("is longer than the base64 of the largest record: %w", err)
	case err != nil:
		return nil, false, fmt.Errorf("must be a base64 string: %w", err)
	case null:
		return nil, true, nil
	}
	if n := len(raw); n > maxBlobChars && n-bytes.Count(raw, []byte{'\n'})-bytes.Count(raw, []byte{'\r'}) > maxBlobChars {
		// (the base64 decoder skips line breaks)
		return nil, false, fmt.Errorf("is longer than the base64 of the largest record: %w: %d characters, more than %d", errTooLong, n, maxBlobChars)
	}
	if data, err = d.decodeBase64(raw); err != nil {
		if msg := base64Problem(raw); msg != "" {
			return nil, false, serializationError(msg)
		}
		return nil, false, fmt.Errorf("is not valid base64: %w", err)
	}
	return data, false, nil
}

// readString consumes a string value and returns the raw bytes between the
// quotes. escaped is true when the raw bytes are not already the decoded
// value (they hold an escape or invalid UTF-8) and must go through unquote.
// A string of more than maxChars*jsonCharBytes raw bytes fails with
// errTooLong, once that many bytes are scanned.
func (r *jsonReader) readString(maxChars int) (raw []byte, escaped bool, err error) {
	b, err := r.peek()
	if err != nil {
		return nil, false, err
	}
	if b != '"' {
		return nil, false, r.errorf("expected a JSON string, got %s", jsonKindOf(b))
	}
	r.pos++
	start := r.pos
	buf := r.buf
	if max := maxChars * jsonCharBytes; len(buf)-start > max {
		buf = buf[:start+max+1] // room for the closing quote
	}
	for i := start; i < len(buf); {
		c := buf[i]
		if !jsonSpecial[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			r.pos = i + 1
			return buf[start:i], escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(buf) {
				return nil, false, r.cut(buf, start)
			}
			switch buf[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(buf) {
					return nil, false, r.cut(buf, start)
				}
				if hex4(buf[i+2:i+6]) < 0 {
					r.pos = i
					return nil, false, r.errorf("invalid \\u escape in a JSON string")
				}
				i += 6
			default:
				r.pos = i
				return nil, false, r.errorf("invalid escape %q in a JSON string", buf[i:i+2])
			}
		case c < 0x20:
			r.pos = i
			return nil, false, r.errorf("control character %#02x in a JSON string", c)
		default:
			rr, size := utf8.DecodeRune(buf[i:])
			if rr == utf8.RuneError && size == 1 {
				escaped = true // encoding/json replaces invalid UTF-8 with U+FFFD
			}
			i += size
		}
	}
	return nil, false, r.cut(buf, start)
}

// cut is the error of a string that runs to the end of buf, a prefix of the
// body from start (see readString).
func (r *jsonReader) cut(buf []byte, start int) error {
	if len(buf) < len(r.buf) {
		return fmt.Errorf("%w: a JSON string of more than %d bytes at byte %d", errTooLong, len(buf)-start-1, start-1)
	}
	return errJSONTruncated
}

// readNull consumes a null literal if it is next.
func (r *jsonReader) readNull() (bool, error) {
	b, err := r.peek()
	if err != nil {
		return false, err
	}
	if b != 'n' {
		return false, nil
	}
	return true, r.literal("null")
}

// readBool reads true or false; null gives present=false.
func (r *jsonReader) readBool() (v, present bool, err error) {
	b, err := r.peek()
	if err != nil {
		return false, false, err
	}
	switch b {
	case 't':
		return true, true, r.literal("true")
	case 'f':
		return false, true, r.literal("false")
	case 'n':
		return false, false, r.literal("null")
	}
	return false, false, r.errorf("expected a JSON boolean, got %s", jsonKindOf(b))
}

func (r *jsonReader) literal(lit string) error {
	if len(r.buf)-r.pos < len(lit) {
		if string(r.buf[r.pos:]) == lit[:len(r.buf)-r.pos] {
			return errJSONTruncated
		}
		return r.errorf("invalid literal; expected %s", lit)
	}
	if string(r.buf[r.pos:r.pos+len(lit)]) != lit {
		return r.errorf("invalid literal; expected %s", lit)
	}
	r.pos += len(lit)
	return nil
}

// skipNumber consumes a number, validating its syntax.
func (r *jsonReader) skipNumber() error {
	start := r.pos
	i := r.pos
	buf := r.buf
	digits := func() int {
		n := 0
		for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
			i++
			n++
		}
		return n
	}
	noDigits := func(where string) error {
		if i >= len(buf) {
			return errJSONTruncated
		}
		r.pos = i
		return r.errorf("invalid number: no digits %s", where)
	}
	if i < len(buf) && buf[i] == '-' {
		i++
	}
	if i >= len(buf) {
		return errJSONTruncated
	}
	switch {
	case buf[i] == '0':
		i++
	case buf[i] >= '1' && buf[i] <= '9':
		digits()
	default:
		r.pos = start
		return r.errorf("invalid number")
	}
	if i < len(buf) && buf[i] == '.' {
		i++
		if digits() == 0 {
			return noDigits("after the decimal point")
		}
	}
	if i < len(buf) && (buf[i] == 'e' || buf[i] == 'E') {
		i++
		if i < len(buf) && (buf[i] == '+' || buf[i] == '-') {
			i++
		}
		if digits() == 0 {
			return noDigits("in the exponent")
		}
	}
	r.pos = i
	return nil
}

// skip consumes any value, validating it.
func (r *jsonReader) skip() error {
	b, err := r.peek()
	if err != nil {
		return err
	}
	switch {
	case b == '"':
		_, _, err := r.readString(maxTextChars)
		return err
	case b == '{' || b == '[':
		object := b == '{'
		var c container
		if object {
			c, err = r.readMap()
		} else {
			c, err = r.readArray()
		}
		if err != nil {
			return err
		}
		for {
			var ok bool
			if object {
				_, _, ok, err = r.nextMember(&c)
			} else {
				ok, err = r.nextElement(&c)
			}
			if !ok || err != nil {
				return err
			}
			if err := r.skip(); err != nil {
				return err
			}
		}
	case b == 't':
		return r.literal("true")
	case b == 'f':
		return r.literal("false")
	case b == 'n':
		return r.literal("null")
	case b == '-' || (b >= '0' && b <= '9'):
		return r.skipNumber()
	}
	return r.errorf("invalid character %s looking for the beginning of a value", quoteByte(b))
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var v rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		v = v<<4 | rune(c)
	}
	return v
}

// appendUnquoted appends the decoded value of a raw JSON string (as returned
// by readString, so already validated) to dst, exactly as encoding/json
// decodes it: escapes resolved, invalid surrogates and invalid UTF-8 bytes
// replaced by U+FFFD.
func appendUnquoted(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch raw[i+1] {
			case '"', '\\', '/':
				dst = append(dst, raw[i+1])
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := hex4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(rr) {
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if rr1 := hex4(raw[i+2:]); rr1 >= 0 {
							if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
								i += 6
								dst = utf8.AppendRune(dst, dec)
								continue
							}
						}
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			rr, size := utf8.DecodeRune(raw[i:])
			dst = utf8.AppendRune(dst, rr)
			i += size
		}
	}
	return dst
}

// keyMatches reports whether a decoded object key selects the member name,
// with encoding/json's rule: an exact match, or else a case-insensitive one
// under its folding (unicode.ToUpper(unicode.ToLower(r)) per rune, so that
// the Kelvin sign matches 'k'). name must be ASCII.
func keyMatches(key []byte, name string) bool {
	if string(key) == name {
		return true
	}
	j := 0
	for i := 0; i < len(key); {
		var r rune
		if c := key[i]; c < utf8.RuneSelf {
			r = rune(c)
			i++
		} else {
			var size int
			r, size = utf8.DecodeRune(key[i:])
			i += size
		}
		r = unicode.ToUpper(unicode.ToLower(r))
		if j >= len(name) || r != unicode.ToUpper(rune(name[j])) {
			return false
		}
		j++
	}
	return j == len(name)
}

// jsonKindOf names the kind of value a byte starts, for error messages.
func jsonKindOf(b byte) string {
	switch {
	case b == '"':
		return "a string"
	case b == '{':
		return "an object"
	case b == '[':
		return "an array"
	case b == 't' || b == 'f':
		return "a boolean"
	case b == 'n':
		return "null"
	case b == '-' || (b >= '0' && b <= '9'):
		return "a number"
	}
	return "invalid character " + quoteByte(b)
}

func quoteByte(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return fmt.Sprintf("'%c'", b)
	}
	return fmt.Sprintf("byte %#02x", b)
}
