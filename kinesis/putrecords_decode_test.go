package kinesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// jsonPutRecordsCases are bodies the hand-written JSON decoder must read
// exactly as encoding/json does.
var jsonPutRecordsCases = []string{
	`{"Records":[{"Data":"aGk=","PartitionKey":"k"}],"StreamName":"s"}`,
	`{"StreamARN":"arn","Records":[{"Data":"","PartitionKey":"k","ExplicitHashKey":"0"}],"DryRun":true}`,
	` { "Records" : [ { "Data" : "aGk=" , "PartitionKey" : "k" } ] } `,
	`{"Records":[]}`,
	`{"Records":null}`,
	`{}`,
	`{"Records":[null,{"Data":null,"PartitionKey":null}]}`,
	`{"Records":[{"Data":"aG\/k","PartitionKey":"\u00e9\ud83d\ude00\n\"\\\/"},{"Data":"aGk\u003d","PartitionKey":"\u0041"}]}`,
	`{"Records":[{"Data":"aGk=\n","PartitionKey":"\ud800x\udc00"}]}`,
	"{\"Records\":[{\"Data\":\"aGk=\",\"PartitionKey\":\"bad\xff\xfeutf8\xed\xa0\x80\"}]}",
	`{"records":[{"data":"aGk=","partitionkey":"folded"}],"streamname":"s"}`,
	"{\"Records\":[{\"Data\":\"aGk=\",\"Partition\u212aey\":\"kelvin\"}],\"\u017ftreamName\":\"long s\"}",
	`{"Unknown":{"a":[1,2.5e-3,-0,true,false,null,"x",{"b":[]}]},"Records":[{"Data":"aGk=","Extra":[{}],"PartitionKey":"k"}]}`,
	`{"DryRun":null,"StreamName":null,"Records":[{"Data":"aGk=","PartitionKey":"k"}]}`,
	`{"Records":[{"Data":"aGk=","PartitionKey":"a","PartitionKey":"b"}],"StreamName":"x","StreamName":"y"}`,
	`{"Records":[{"Data":"aGk=","Data":null,"PartitionKey":"k"}]}`,
}

// jsonPutRecordsInvalid are bodies both decoders reject.
var jsonPutRecordsInvalid = []string{
	``, ` `, `[]`, `null`, `"x"`, `{`, `{"Records":[}`, `{"Records":[{"Data":"aGk="}]`, `{"Records":[{"Data":"aGk="}]}x`,
	`{"Records":{}}`, `{"Records":"x"}`, `{"Records":[1]}`, `{"Records":[{"Data":1}]}`, `{"Records":[{"Data":"a"}]}`,
	`{"Records":[{"Data":"!!!!"}]}`, `{"Records":[{"PartitionKey":1}]}`, `{"DryRun":"true"}`, `{"StreamName":true}`,
	`{"Records":[{"Data":"aGk=","PartitionKey":"a` + "\x01" + `"}]}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":tru}`,
	`{"a":"\x"}`, `{"a":"\u12"}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"a":[1,]}`, `{"a":nul}`, `{"Records":[{"Data":"aGk="},]}`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
}

func TestDecodePutRecordsJSON_MatchesEncodingJSON(t *testing.T) {
	var d Decoder
	for _, body := range jsonPutRecordsCases {
		var fast, slow PutRecordsInput
		if err := d.Decode(FormatJSON, []byte(body), &fast); err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if err := json.Unmarshal([]byte(body), &slow); err != nil {
			t.Fatalf("encoding/json rejects %s: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s\nfast %#v\njson %#v", body, fast, slow)
		}
	}
}

func TestDecodePutRecordsJSON_Rejects(t *testing.T) {
	var d Decoder
	for _, body := range jsonPutRecordsInvalid {
		var in PutRecordsInput
		err := d.Decode(FormatJSON, []byte(body), &in)
		if !errors.Is(err, ErrSerialization) {
			t.Errorf("%.60q: err = %v, want SerializationException", body, err)
		}
	}
}

// TestDecodePutRecordsCBOR_MatchesFxamacker reads the Java-style encoding of
// every JSON case, and CBOR-specific forms, as fxamacker/cbor does.
func TestDecodePutRecordsCBOR_MatchesFxamacker(t *testing.T) {
	var bodies [][]byte
	for _, body := range jsonPutRecordsCases[:8] {
		bodies = append(bodies, jacksonCBOR(t, []byte(body)))
	}
	definite := appendCBORHead(nil, cborMajorMap, 2)
	definite = appendCBORText(definite, "Records")
	definite = appendCBORHead(definite, cborMajorArray, 2)
	for _, data := range [][]byte{{}, bytes.Repeat([]byte{7}, 300)} {
		definite = append(definite, cborMajorMap|3)
		definite = appendCBORText(definite, "Data")
		definite = appendCBORBytes(definite, data)
		definite = appendCBORText(definite, "PartitionKey")
		definite = appendCBORText(definite, "ключ")
		definite = appendCBORText(definite, "Skip")
		definite = append(definite, 0xfb, 0, 0, 0, 0, 0, 0, 0, 0) // a double
	}
	definite = appendCBORText(definite, "StreamName")
	definite = appendCBORText(definite, "s")
	chunked := []byte{cborIndefMap}
	chunked = appendCBORText(chunked, "Records")
	chunked = append(chunked, cborIndefArray, cborIndefMap)
	chunked = appendCBORText(chunked, "Data")
	chunked = append(chunked, cborMajorBytes|cborInfoIndef)
	chunked = appendCBORBytes(chunked, []byte("ab"))
	chunked = appendCBORBytes(chunked, nil)
	chunked = appendCBORBytes(chunked, []byte("c"))
	chunked = append(chunked, cborBreak, cborBreak, cborBreak, cborBreak)
	undefined := []byte{cborMajorMap | 2}
	undefined = appendCBORText(undefined, "Records")
	undefined = append(undefined, cborMajorArray|1, cborUndefined)
	undefined = appendCBORText(undefined, "DryRun")
	undefined = append(undefined, cborUndefined)
	bodies = append(bodies, definite, chunked, undefined)

	var d Decoder
	for _, body := range bodies {
		var fast, slow PutRecordsInput
		if err := d.Decode(FormatCBOR, body, &fast); err != nil {
			t.Errorf("% x: %v", body, err)
			continue
		}
		if err := cborDecMode.Unmarshal(body, &slow); err != nil {
			t.Fatalf("fxamacker rejects % x: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("% x\nfast %#v\ncbor %#v", body, fast, slow)
		}
	}
}

func TestDecodePutRecordsCBOR_Rejects(t *testing.T) {
	valid := jacksonCBOR(t, []byte(jsonPutRecordsCases[0]))
	cases := map[string][]byte{
		"empty":        {},
		"array":        {cborMajorArray},
		"truncated":    valid[:len(valid)-1],
		"trailing":     append(append([]byte(nil), valid...), 0),
		"text data":    cborMapOf("Records", []byte{cborMajorArray | 1, cborMajorMap | 1, 0x64, 'D', 'a', 't', 'a', 0x61, 'x'}),
		"int key":      {cborMajorMap | 1, 0x01, 0x01},
		"bytes key":    {cborMajorMap | 1, 0x41, 'R', 0x01},
		"bad utf8":     cborMapOf("StreamName", []byte{0x62, 0xff, 0xfe}),
		"tag":          cborMapOf("StreamName", []byte{0xc0, 0x61, 'x'}),
		"break":        {cborMajorMap | 1, cborBreak},
		"reserved":     {0xbc},
		"indef int":    {cborMajorMap | 1, 0x61, 'x', 0x1f},
		"mixed chunks": cborMapOf("StreamName", []byte{0x7f, 0x41, 'x', cborBreak}),
		"deep":         cborMapOf("x", append(bytes.Repeat([]byte{cborMajorArray | 1}, 40), 0)),
		"bool string":  cborMapOf("DryRun", []byte{0x61, 'x'}),
		"huge array":   cborMapOf("Records", []byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		"simple 0xf8":  cborMapOf("x", []byte{0xf8, 0x10}),
	}
	var d Decoder
	for name, body := range cases {
		var in PutRecordsInput
		if err := d.Decode(FormatCBOR, body, &in); !errors.Is(err, ErrSerialization) {
			t.Errorf("%s (% x): err = %v, want SerializationException", name, body, err)
		}
	}
}

// cborMapOf returns a one-entry map with the given raw value.
func cborMapOf(key string, value []byte) []byte {
	b := appendCBORText([]byte{cborMajorMap | 1}, key)
	return append(b, value...)
}

// TestDecodePutRecords_ReuseDoesNotLeak decodes a large body, then a small
// one, with the same Decoder and input: nothing of the first survives.
func TestDecodePutRecords_ReuseDoesNotLeak(t *testing.T) {
	for _, f := range []Format{FormatJSON, FormatCBOR} {
		var d Decoder
		var in PutRecordsInput
		big := putRecordsBody(t, f, 500, 100)
		if err := d.Decode(f, big, &in); err != nil {
			t.Fatal(err)
		}
		if len(in.Records) != 500 || in.Records[499].PartitionKey != "partition-key-499" || in.Records[499].Data[99] != byte((499+99)%256) {
			t.Fatalf("%s: big body decoded to %d records", f, len(in.Records))
		}
		small := putRecordsBody(t, f, 1, 3)
		if err := d.Decode(f, small, &in); err != nil {
			t.Fatal(err)
		}
		want := PutRecordsInput{StreamName: "orders", Records: []PutRecordsRequestEntry{{Data: []byte{0, 1, 2}, PartitionKey: "partition-key-0"}}}
		if !reflect.DeepEqual(in, want) {
			t.Errorf("%s: small body after a big one decoded to %+v", f, in)
		}
	}
}

// TestDecodePutRecords_Allocations checks the hot path: a 500-record
// PutRecords decodes with one allocation (the strings) once warm.
func TestDecodePutRecords_Allocations(t *testing.T) {
	for _, f := range []Format{FormatJSON, FormatCBOR} {
		body := putRecordsBody(t, f, 500, 100)
		var d Decoder
		var in PutRecordsInput
		decode := func() {
			if err := d.Decode(f, body, &in); err != nil {
				t.Fatal(err)
			}
		}
		decode()
		if allocs := testing.AllocsPerRun(20, decode); allocs > 1 {
			t.Errorf("%s: %.1f allocations per 500-record PutRecords, want at most 1", f, allocs)
		}
	}
}

// putRecordsBody builds a PutRecords body of n records of size bytes, as the
// Go SDK (JSON) or the Java SDK (CBOR) writes it.
func putRecordsBody(t testing.TB, f Format, n, size int) []byte {
	type entry struct {
		Data         []byte
		PartitionKey string
	}
	in := struct {
		Records    []entry
		StreamName string
	}{StreamName: "orders"}
	for i := 0; i < n; i++ {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i + j)
		}
		in.Records = append(in.Records, entry{Data: data, PartitionKey: fmt.Sprintf("partition-key-%d", i)})
	}
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if f == FormatCBOR {
		return jacksonCBOR(t, body)
	}
	return body
}

// isLimitError reports whether err is a decoder's refusal of what no request
// needs (tokens.go) or of a list longer than the model allows: the one way
// the decoders may refuse a body encoding/json or fxamacker/cbor reads.
func isLimitError(err error) bool {
	msg := err.Error()
	return errors.Is(err, ErrValidation) || strings.Contains(msg, "no Kinesis request needs more") ||
		strings.Contains(msg, "too long for any Kinesis request")
}

// limitSeeds are bodies (JSON) at and past the decoder limits.
var limitSeeds = []string{
	repeatString(`{"Records":[`, "{}", "]}", 500),
	repeatString(`{"Records":[`, "{}", "]}", 501),
	`{"x":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`,
	`{"x":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}`,
	repeatString(`{"x":[`, "0", "]}", 1001),
	`{"Records":[{"PartitionKey":"` + strings.Repeat("k", 1537) + `"}]}`,
	`{"StreamName":"` + strings.Repeat("\\u00e9", 129) + `"}`,
	repeatString(`{"StreamName":"s","Tags":{`, `"k":"v"`, "}}", 201),
	repeatString(`{"ShardLevelMetrics":[`, `"ALL"`, "]}", 8),
}

// repeatString is repeatJSON as a string.
func repeatString(prefix, item, suffix string, n int) string {
	return string(repeatJSON(prefix, item, suffix, n))
}

// FuzzDecodeJSON checks the JSON request decoders on arbitrary bodies: they
// never panic and fail only with a SerializationException (or the
// ValidationException of a list past the model's length); the hand-written
// PutRecords decoder rejects everything that is not JSON and otherwise
// agrees with encoding/json (except on duplicate members, where
// encoding/json merges into the earlier value, and past the decoder limits).
func FuzzDecodeJSON(f *testing.F) {
	for _, c := range jsonPutRecordsCases {
		f.Add([]byte(c))
	}
	for _, c := range jsonPutRecordsInvalid[:len(jsonPutRecordsInvalid)-2] {
		f.Add([]byte(c))
	}
	for _, c := range limitSeeds {
		f.Add([]byte(c))
	}
	f.Add([]byte(`{"ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1.7e9,"Limit":5}`))
	f.Add([]byte(`{"ShardFilter":{"Type":"AT_TIMESTAMP","Timestamp":-1},"MaxResults":1000,"StreamCreationTimestamp":1700000000.123}`))
	f.Add([]byte(`{"Timestamp":1e999999999,"StreamCreationTimestamp":-4.2E-999999}`))
	var d Decoder
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, slow PutRecordsInput
		fastErr := d.Decode(FormatJSON, body, &fast)
		slowErr := json.Unmarshal(body, &slow)
		if fastErr != nil && !errors.Is(fastErr, ErrSerialization) && !errors.Is(fastErr, ErrValidation) {
			t.Fatalf("error %v is neither a SerializationException nor a ValidationException", fastErr)
		}
		if !json.Valid(body) && fastErr == nil {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		isObject := len(trimmed) > 0 && trimmed[0] == '{'
		if (fastErr == nil) != (slowErr == nil && isObject) && !(fastErr != nil && isLimitError(fastErr)) {
			t.Fatalf("%q: fast error %v, encoding/json error %v", body, fastErr, slowErr)
		}
		if fastErr == nil && !jsonHasDuplicateKeys(body) && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q\nfast %#v\njson %#v", body, fast, slow)
		}
		// The reflective path must fail only with SerializationException
		// too, or with the ValidationException of a list past its limit.
		for _, v := range []any{new(GetShardIteratorInput), new(ListShardsInput), new(CreateStreamInput), new(RemoveTagsFromStreamInput)} {
			if err := d.Decode(FormatJSON, body, v); err != nil && !errors.Is(err, ErrSerialization) && !errors.Is(err, ErrValidation) {
				t.Fatalf("%T: error %v is neither a SerializationException nor a ValidationException", v, err)
			}
		}
	})
}

// FuzzDecodeCBOR checks the CBOR request decoders on arbitrary bodies: they
// never panic and fail only with a SerializationException; the hand-written
// PutRecords decoder rejects every body that is not well-formed CBOR, and
// whatever it accepts fxamacker/cbor reads to the same value (barring
// duplicate keys).
func FuzzDecodeCBOR(f *testing.F) {
	for _, c := range jsonPutRecordsCases[:8] {
		f.Add(jacksonCBOR(f, []byte(c)))
	}
	f.Add(cborMapOf("Records", []byte{0x9f, 0xa1, 0x64, 'D', 'a', 't', 'a', 0x5f, 0x41, 'x', 0xff, 0xff}))
	f.Add(cborMapOf("Timestamp", []byte{0xc1, 0x1b, 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b}))
	f.Add(cborMapOf("DryRun", []byte{cborTrue}))
	for _, c := range limitSeeds {
		f.Add(jacksonCBOR(f, []byte(c)))
	}
	f.Add(cborList("Records", []byte{cborMajorMap}, 501, false, false))
	f.Add(cborList("TagKeys", appendCBORText(nil, "k"), 51, false, true))
	f.Add(cborMapOf("x", append(bytes.Repeat([]byte{cborMajorArray | 1}, 33), 0)))
	f.Add(cborMapOf("StreamName", append(appendCBORHead([]byte{cborMajorText | cborInfoIndef}, cborMajorText, 600), bytes.Repeat([]byte{'a'}, 600)...)))
	dupCheck, err := cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, MaxNestedLevels: 64}.DecMode()
	if err != nil {
		f.Fatal(err)
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, slow PutRecordsInput
		fastErr := d.Decode(FormatCBOR, body, &fast)
		if fastErr != nil && !errors.Is(fastErr, ErrSerialization) && !errors.Is(fastErr, ErrValidation) {
			t.Fatalf("error %v is neither a SerializationException nor a ValidationException", fastErr)
		}
		if fastErr == nil {
			if err := cbor.Wellformed(body); err != nil {
				t.Fatalf("accepted malformed CBOR % x: %v", body, err)
			}
			if err := cborDecMode.Unmarshal(body, &slow); err != nil {
				t.Fatalf("accepted % x, which fxamacker rejects: %v", body, err)
			}
			var tree any
			var dup *cbor.DupMapKeyError
			if err := dupCheck.Unmarshal(body, &tree); !errors.As(err, &dup) && !reflect.DeepEqual(fast, slow) {
				t.Fatalf("% x\nfast %#v\ncbor %#v", body, fast, slow)
			}
		}
		for _, v := range []any{new(GetShardIteratorInput), new(ListShardsInput), new(CreateStreamInput), new(RemoveTagsFromStreamInput)} {
			if err := d.Decode(FormatCBOR, body, v); err != nil && !errors.Is(err, ErrSerialization) && !errors.Is(err, ErrValidation) {
				t.Fatalf("%T: error %v is neither a SerializationException nor a ValidationException", v, err)
			}
		}
	})
}

// jsonHasDuplicateKeys reports whether any object of a valid JSON document
// has two keys that encoding/json would match to the same field (equal
// under its case folding).
func jsonHasDuplicateKeys(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF || err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &frame{object: v == '{', keys: map[string]bool{}, expect: v == '{'})
				continue
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].expect = true
				}
				continue
			}
		case string:
			if top != nil && top.object && top.expect {
				k := foldKey(v)
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.expect = false
				continue
			}
		}
		if top != nil && top.object {
			top.expect = true
		}
	}
}

// foldKey folds a key as encoding/json matches keys.
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf {
			b.WriteRune(unicode.ToUpper(r))
		} else {
			b.WriteRune(unicode.ToUpper(unicode.ToLower(r)))
		}
	}
	return b.String()
}
