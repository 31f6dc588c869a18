package jsonenc

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestAppendString_MatchesEncodingJSON checks that every string, valid UTF-8
// or not, is written as JSON that decodes to the string (invalid bytes as
// U+FFFD), and byte for byte as encoding/json writes it without HTML escaping.
func TestAppendString_MatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\x01\x1f \x7f", "é日本🐢", "bad \xff byte", "ab\xe2\x82",
		"<tag>&amp;", "line \u2028 paragraph \u2029", "\ud7ff\ue000\U0010ffff", "\xed\xa0\x80 surrogate"} {
		got := AppendString(nil, []byte(s))
		if string(AppendString(nil, s)) != string(got) {
			t.Errorf("AppendString(%q) differs for string and []byte", s)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, got, err)
		}
		var want []rune
		for _, r := range s { // each invalid byte ranges as one U+FFFD
			want = append(want, r)
		}
		if back != string(want) {
			t.Errorf("AppendString(%q) decodes to %q; want %q", s, back, want)
		}
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSuffix(b.String(), "\n"); string(got) != want {
			t.Errorf("AppendString(%q) = %s; encoding/json writes %s", s, got, want)
		}
	}
}

// TestDecodeRune_MatchesUTF8 checks DecodeRune against utf8.DecodeRune on
// every one- and two-byte input and on the edges of the longer forms.
func TestDecodeRune_MatchesUTF8(t *testing.T) {
	check := func(b []byte) {
		r, n := DecodeRune(b)
		wr, wn := utf8.DecodeRune(b)
		if r != wr || n != wn {
			t.Fatalf("DecodeRune(% x) = %U, %d; utf8.DecodeRune gives %U, %d", b, r, n, wr, wn)
		}
		if r2, n2 := DecodeRune(string(b)); r2 != r || n2 != n {
			t.Fatalf("DecodeRune(% x) differs for string and []byte", b)
		}
	}
	check(nil)
	for a := 0; a < 256; a++ {
		check([]byte{byte(a)})
		for b := 0; b < 256; b++ {
			check([]byte{byte(a), byte(b)})
			check([]byte{byte(a), byte(b), 0x80})
			check([]byte{byte(a), byte(b), 0xbf, 0x80})
		}
	}
}

func TestAppendString_NoAllocations(t *testing.T) {
	buf := make([]byte, 0, 256)
	s := "key \"with\" escapes\n and é and \xff"
	if n := testing.AllocsPerRun(100, func() { buf = AppendString(buf[:0], s) }); n != 0 {
		t.Errorf("AppendString allocates %.0f times per call, want 0", n)
	}
}
