// Package jsonenc writes JSON strings without allocating, for the hand-written
// encoders of the server (kinesis) and of the command line (cmd/sluice). It
// imports nothing of sluice.
package jsonenc

import "unicode/utf8"

// jsonSafe marks the ASCII bytes a JSON string may hold unescaped.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. It escapes what JSON requires
// (quote, backslash, control characters), U+2028 and U+2029 (as encoding/json
// does), and writes invalid UTF-8 as \ufffd; HTML characters stay as they are.
func AppendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// DecodeRune is utf8.DecodeRune for strings and byte slices alike (without
// converting, so without allocating): it returns (utf8.RuneError, 1) for an
// invalid sequence, as utf8.DecodeRune does.
func DecodeRune[S ~string | ~[]byte](s S) (rune, int) {
	n := len(s)
	if n < 1 {
		return utf8.RuneError, 0
	}
	c0 := s[0]
	if c0 < utf8.RuneSelf {
		return rune(c0), 1
	}
	// lo and hi bound the second byte (RFC 3629 table 3-7).
	var size int
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case c0 >= 0xc2 && c0 <= 0xdf:
		size = 2
	case c0 == 0xe0:
		size, lo = 3, 0xa0
	case c0 >= 0xe1 && c0 <= 0xec, c0 == 0xee, c0 == 0xef:
		size = 3
	case c0 == 0xed:
		size, hi = 3, 0x9f
	case c0 == 0xf0:
		size, lo = 4, 0x90
	case c0 >= 0xf1 && c0 <= 0xf3:
		size = 4
	case c0 == 0xf4:
		size, hi = 4, 0x8f
	default:
		return utf8.RuneError, 1
	}
	if n < size || s[1] < lo || s[1] > hi {
		return utf8.RuneError, 1
	}
	for i := 2; i < size; i++ {
		if s[i] < 0x80 || s[i] > 0xbf {
			return utf8.RuneError, 1
		}
	}
	switch size {
	case 2:
		return rune(c0&0x1f)<<6 | rune(s[1]&0x3f), 2
	case 3:
		return rune(c0&0x0f)<<12 | rune(s[1]&0x3f)<<6 | rune(s[2]&0x3f), 3
	}
	return rune(c0&0x07)<<18 | rune(s[1]&0x3f)<<12 | rune(s[2]&0x3f)<<6 | rune(s[3]&0x3f), 4
}
