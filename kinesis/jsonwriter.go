package kinesis

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"github.com/sluicedb/sluice/internal/jsonenc"
)

// appendJSONString appends s as a JSON string (see jsonenc.AppendString).
func appendJSONString[S ~string | ~[]byte](dst []byte, s S) []byte {
	return jsonenc.AppendString(dst, s)
}

// appendJSONBase64 appends b as a JSON string of standard base64 (with padding).
func appendJSONBase64(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// appendJSONKey appends "name": (name must need no escaping).
func appendJSONKey(dst []byte, name string) []byte {
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

// appendJSONInt appends v as a JSON number.
func appendJSONInt(dst []byte, v int64) []byte {
	return strconv.AppendInt(dst, v, 10)
}

// toValidUTF8 replaces invalid UTF-8 (CBOR text strings must be valid).
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		out = utf8.AppendRune(out, r)
		i += size
	}
	return string(out)
}
