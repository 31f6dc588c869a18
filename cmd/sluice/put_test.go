package main

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

func readLines(t *testing.T, r *lineReader) []string {
	t.Helper()
	var out []string
	for {
		line, err := r.next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("line %d: %v", len(out)+1, err)
		}
		out = append(out, string(line))
	}
}

func TestLineReader_LineEndings(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than the reader's buffer
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a\nb\n", []string{"a", "b"}},
		{"a\r\nb\r\n", []string{"a", "b"}},
		{"no newline at the end", []string{"no newline at the end"}},
		{"\n\nx\n", []string{"", "", "x"}},
		{"keep\rinner\rcarriage\n", []string{"keep\rinner\rcarriage"}},
		{long + "\nshort\n" + long, []string{long, "short", long}},
	}
	for _, c := range cases {
		got := readLines(t, newLineReader(strings.NewReader(c.in), 1<<20))
		if len(got) != len(c.want) {
			t.Fatalf("%.40q: %d lines; want %d", c.in, len(got), len(c.want))
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%.40q: line %d is %.40q; want %.40q", c.in, i+1, got[i], c.want[i])
			}
		}
	}
}

func TestLineReader_TooLong(t *testing.T) {
	in := "ok\n" + strings.Repeat("y", 300<<10) + "\n"
	r := newLineReader(strings.NewReader(in), 100<<10)
	if line, err := r.next(); err != nil || string(line) != "ok" {
		t.Fatalf("first line %q, %v", line, err)
	}
	_, err := r.next()
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "102400") {
		t.Fatalf("error %v; want one naming line 2 and the limit", err)
	}
}

func TestJSONField_Values(t *testing.T) {
	cases := []struct {
		line, field, want string
	}{
		{`{"user":"alice","n":1}`, "user", "alice"},
		{`{"user":"\u00e9l\u00e8ve"}`, "user", "élève"},
		{`{"n": 42 }`, "n", "42"},
		{`{"n":-1.5e3}`, "n", "-1.5e3"},
		{`{"ok":true}`, "ok", "true"},
		{`{"a":{"b":{"c":"deep"}}}`, "a.b.c", "deep"},
	}
	for _, c := range cases {
		got, err := jsonField([]byte(c.line), strings.Split(c.field, "."))
		if err != nil || !bytes.Equal(got, []byte(c.want)) {
			t.Errorf("jsonField(%s, %s) = %q, %v; want %q", c.line, c.field, got, err, c.want)
		}
	}
}

func TestJSONField_Errors(t *testing.T) {
	cases := []struct {
		line, field, want string
	}{
		{`not json`, "user", "not a JSON object"},
		{`["user"]`, "user", "not a JSON object"},
		{`{"name":"x"}`, "user", `no field "user"`},
		{`{"user":null}`, "user", "null"},
		{`{"user":{"id":1}}`, "user", "an object"},
		{`{"user":[1]}`, "user", "an array"},
		{`{"user":""}`, "user", "empty string"},
		{`{"a":"flat"}`, "a.b", `"a" is not a JSON object`},
	}
	for _, c := range cases {
		_, err := jsonField([]byte(c.line), strings.Split(c.field, "."))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("jsonField(%s, %s) error %v; want one containing %q", c.line, c.field, err, c.want)
		}
	}
}

func TestRandomKey_HexAndVaried(t *testing.T) {
	var buf [16]byte
	seen := map[string]bool{}
	for range 100 {
		k := string(randomKey(&buf))
		if len(k) != 16 || strings.Trim(k, "0123456789abcdef") != "" {
			t.Fatalf("random key %q is not 16 hexadecimal digits", k)
		}
		seen[k] = true
	}
	if len(seen) < 95 {
		t.Fatalf("100 random keys have %d distinct values; want them to spread over the shards", len(seen))
	}
}

// BenchmarkLineReader measures splitting `sluice put`'s standard input into
// records; reader=scanner is the baseline, bufio.Scanner's line splitting.
func BenchmarkLineReader(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"100B", 100}, {"1KiB", 1024}} {
		line := append(bytes.Repeat([]byte("x"), size.n), '\n')
		in := bytes.Repeat(line, 1000)
		b.Run("reader=lines/size="+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			src := bytes.NewReader(in)
			r := newLineReader(src, 1<<20)
			for b.Loop() {
				src.Reset(in)
				r.br.Reset(src)
				for {
					if _, err := r.next(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
		b.Run("reader=scanner/size="+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			src := bytes.NewReader(in)
			buf := make([]byte, 64<<10)
			for b.Loop() {
				src.Reset(in)
				sc := bufio.NewScanner(src)
				sc.Buffer(buf, 1<<20)
				for sc.Scan() {
				}
			}
		})
	}
}
