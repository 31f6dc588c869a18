package kinesis

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// hostileSize is the size of the hostile bodies: 15 MB, above what any
// request body limit lets through, so that the decoders alone are measured.
const hostileSize = 15 << 20

// heapBudget is what decoding one hostile body may allocate: 1 MiB.
const heapBudget = 1 << 20

// decodeHeap decodes body into v with a fresh Decoder and returns the error
// and the bytes allocated meanwhile.
func decodeHeap(f Format, body []byte, v any) (error, uint64) {
	var d Decoder
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := d.Decode(f, body, v)
	runtime.ReadMemStats(&after)
	return err, after.TotalAlloc - before.TotalAlloc
}

// repeatJSON returns prefix, n copies of item separated by commas, suffix.
func repeatJSON(prefix, item, suffix string, n int) []byte {
	var b bytes.Buffer
	b.Grow(len(prefix) + n*(len(item)+1) + len(suffix))
	b.WriteString(prefix)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	b.WriteString(suffix)
	return b.Bytes()
}

// cborList returns the member key of a one-entry map holding a CBOR array
// (or map, with pairs) of n copies of item, definite or indefinite.
func cborList(key string, item []byte, n int, pairs, indef bool) []byte {
	major := byte(cborMajorArray)
	if pairs {
		major = cborMajorMap
	}
	b := appendCBORText([]byte{cborMajorMap | 1}, key)
	if indef {
		b = append(b, major|cborInfoIndef)
	} else {
		b = appendCBORHead(b, major, uint64(n))
	}
	for range n {
		b = append(b, item...)
	}
	if indef {
		b = append(b, cborBreak)
	}
	return b
}

// hostileCase is a body the decoders must refuse cheaply, with an error of
// code and message.
type hostileCase struct {
	name string
	f    Format
	body []byte
	code ErrorCode
	msg  string
}

func checkHostile(t *testing.T, c hostileCase, newInput func() any) {
	t.Helper()
	err, heap := decodeHeap(c.f, c.body, newInput())
	var e *Error
	if !errors.As(err, &e) || e.Code != c.code || !strings.Contains(e.Message, c.msg) {
		t.Errorf("%s: err = %v; want %s with %q", c.name, err, c.code, c.msg)
	}
	if heap > heapBudget {
		t.Errorf("%s: decoding %d bytes allocated %d bytes; want at most %d", c.name, len(c.body), heap, heapBudget)
	}
}

// TestDecodePutRecords_StopsAtTheRecordLimit decodes 15 MB bodies of empty
// entries in every form: decoding stops at the 501st entry with AWS's
// ValidationException, having allocated little.
func TestDecodePutRecords_StopsAtTheRecordLimit(t *testing.T) {
	const tooMany = "at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"
	n := hostileSize / 3
	cases := []hostileCase{
		{"JSON", FormatJSON, repeatJSON(`{"StreamName":"s","Records":[`, "{}", "]}", n), CodeValidation, tooMany},
		{"JSON nulls", FormatJSON, repeatJSON(`{"Records":[`, "null", "]}", n), CodeValidation, tooMany},
		{"CBOR definite", FormatCBOR, cborList("Records", []byte{cborMajorMap}, hostileSize, false, false), CodeValidation, tooMany},
		{"CBOR indefinite", FormatCBOR, cborList("Records", []byte{cborMajorMap}, hostileSize, false, true), CodeValidation, tooMany},
		{"CBOR indefinite entries", FormatCBOR, cborList("Records", []byte{cborIndefMap, cborBreak}, hostileSize/2, false, true), CodeValidation, tooMany},
		{"CBOR declared length", FormatCBOR, cborMapOf("Records", []byte{0x9b, 0, 0, 0, 1, 0, 0, 0, 0, cborMajorMap}), CodeSerialization, "CBOR data ends"},
	}
	for _, c := range cases {
		checkHostile(t, c, func() any { return new(PutRecordsInput) })
	}
	// 500 entries are still read.
	var d Decoder
	var in PutRecordsInput
	if err := d.Decode(FormatJSON, repeatJSON(`{"Records":[`, `{"Data":"","PartitionKey":"k"}`, "]}", 500), &in); err != nil || len(in.Records) != 500 {
		t.Errorf("500 entries: err %v, %d records", err, len(in.Records))
	}
}

// TestDecode_TagListsStopAtTheModelLimit decodes huge tag maps and key lists
// for every operation that takes them, in JSON and CBOR.
func TestDecode_TagListsStopAtTheModelLimit(t *testing.T) {
	const tooManyTags = "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 200"
	const tooManyKeys = "at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50"
	n := hostileSize / 10
	var keys strings.Builder
	for i := range n {
		if i > 0 {
			keys.WriteByte(',')
		}
		fmt.Fprintf(&keys, `"k%d":""`, i)
	}
	tagsJSON := `{"StreamName":"s","ResourceARN":"arn","Tags":{` + keys.String() + `}}`
	tagKeysJSON := repeatJSON(`{"StreamName":"s","ResourceARN":"arn","TagKeys":[`, `"k"`, "]}", n)
	pair := append(appendCBORText(nil, "k"), appendCBORText(nil, "")...)
	key := appendCBORText(nil, "k")
	for _, op := range []struct {
		name     string
		newInput func() any
		tags     bool
	}{
		{"AddTagsToStream", func() any { return new(AddTagsToStreamInput) }, true},
		{"TagResource", func() any { return new(TagResourceInput) }, true},
		{"CreateStream", func() any { return new(CreateStreamInput) }, true},
		{"RegisterStreamConsumer", func() any { return new(RegisterStreamConsumerInput) }, true},
		{"RemoveTagsFromStream", func() any { return new(RemoveTagsFromStreamInput) }, false},
		{"UntagResource", func() any { return new(UntagResourceInput) }, false},
	} {
		var cases []hostileCase
		if op.tags {
			cases = []hostileCase{
				{op.name + " JSON", FormatJSON, []byte(tagsJSON), CodeValidation, tooManyTags},
				{op.name + " JSON lower case", FormatJSON, []byte(strings.Replace(tagsJSON, `"Tags"`, `"tags"`, 1)), CodeValidation, tooManyTags},
				{op.name + " CBOR definite", FormatCBOR, cborList("Tags", pair, n, true, false), CodeValidation, tooManyTags},
				{op.name + " CBOR indefinite", FormatCBOR, cborList("Tags", pair, n, true, true), CodeValidation, tooManyTags},
			}
		} else {
			cases = []hostileCase{
				{op.name + " JSON", FormatJSON, tagKeysJSON, CodeValidation, tooManyKeys},
				{op.name + " CBOR definite", FormatCBOR, cborList("TagKeys", key, n, false, false), CodeValidation, tooManyKeys},
				{op.name + " CBOR indefinite", FormatCBOR, cborList("TagKeys", key, n, false, true), CodeValidation, tooManyKeys},
			}
		}
		for _, c := range cases {
			checkHostile(t, c, op.newInput)
		}
	}
	// At the limit, the tags are read.
	var d Decoder
	var in AddTagsToStreamInput
	var ok strings.Builder
	for i := range 200 {
		if i > 0 {
			ok.WriteByte(',')
		}
		fmt.Fprintf(&ok, `"k%d":"v"`, i)
	}
	if err := d.Decode(FormatJSON, []byte(`{"Tags":{`+ok.String()+`}}`), &in); err != nil || len(in.Tags) != 200 {
		t.Errorf("200 tags: err %v, %d tags", err, len(in.Tags))
	}
}

// TestDecode_RefusesWhatNoRequestNeeds feeds every decoder nesting bombs,
// huge unknown containers and strings, and repeated members: each is
// refused, or read, at a small cost.
func TestDecode_RefusesWhatNoRequestNeeds(t *testing.T) {
	deepJSON := `{"x":` + strings.Repeat("[", hostileSize/2) + strings.Repeat("]", hostileSize/2) + `}`
	deepCBOR := cborMapOf("x", append(bytes.Repeat([]byte{cborMajorArray | 1}, hostileSize), 0))
	deepIndef := cborMapOf("x", bytes.Repeat([]byte{cborIndefArray}, hostileSize))
	wideJSON := repeatJSON(`{"x":[`, "1", "]}", hostileSize/2)
	wideCBOR := cborList("x", []byte{1}, hostileSize, false, true)
	longText := `{"StreamName":"` + strings.Repeat("a", hostileSize) + `"}`
	longKey := repeatJSON(`{"Records":[{"Data":"","PartitionKey":"`, strings.Repeat("\\u00e9", 300), `"}]}`, 1)
	chunks := cborMapOf("StreamName", append(append([]byte{cborMajorText | cborInfoIndef},
		bytes.Repeat(appendCBORText(nil, "abcdefghijklmnopqrstuvw"), hostileSize/24)...), cborBreak))
	cborKey := appendCBORHead(appendCBORText([]byte{cborMajorMap | 1}, "Records"), cborMajorArray, 1)
	cborKey = appendCBORText(append(cborKey, cborMajorMap|1), "PartitionKey")
	cborKey = appendCBORText(cborKey, strings.Repeat("ключ", 300))

	cborData := appendCBORHead(appendCBORText([]byte{cborMajorMap | 1}, "Records"), cborMajorArray, 1)
	cborData = appendCBORHead(appendCBORText(append(cborData, cborMajorMap|1), "Data"), cborMajorBytes, maxBlobBytes+1)
	const deep = "nesting deeper than 32 levels; no Kinesis request needs more"
	const wide = "of more than 1000 entries; no Kinesis request needs more"
	shapes := map[string]func() any{
		"PutRecords":       func() any { return new(PutRecordsInput) },
		"GetShardIterator": func() any { return new(GetShardIteratorInput) },
		"ListShards":       func() any { return new(ListShardsInput) },
		"AddTagsToStream":  func() any { return new(AddTagsToStreamInput) },
	}
	for name, newInput := range shapes {
		for _, c := range []hostileCase{
			{name + " JSON nesting", FormatJSON, []byte(deepJSON), CodeSerialization, deep},
			{name + " CBOR nesting", FormatCBOR, deepCBOR, CodeSerialization, deep},
			{name + " CBOR indefinite nesting", FormatCBOR, deepIndef, CodeSerialization, deep},
			{name + " JSON wide", FormatJSON, wideJSON, CodeSerialization, wide},
			{name + " CBOR wide", FormatCBOR, wideCBOR, CodeSerialization, wide},
		} {
			checkHostile(t, c, newInput)
		}
	}
	for _, c := range []hostileCase{
		{"JSON long stream name", FormatJSON, []byte(longText), CodeValidation,
			"Value of more than 128 characters at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"CBOR long chunked stream name", FormatCBOR, chunks, CodeValidation, "at 'streamName'"},
		{"JSON escaped partition key", FormatJSON, longKey, CodeValidation,
			"Value of more than 256 characters at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"CBOR partition key", FormatCBOR, cborKey, CodeValidation, "at 'records.1.member.partitionKey'"},
		{"JSON long StreamId", FormatJSON, []byte(`{"StreamId":"` + strings.Repeat("a", 7<<20) + `"}`), CodeSerialization,
			"member StreamId: string too long for any Kinesis request"},
		{"JSON record data", FormatJSON, []byte(`{"Records":[{"Data":"` + strings.Repeat("A", maxBlobChars+4) + `"}]}`), CodeSerialization,
			"member Records[0].Data is longer than the base64 of the largest record"},
		{"CBOR record data", FormatCBOR, cborData, CodeSerialization, "member Records[0].Data is longer than the largest record"},
	} {
		checkHostile(t, c, func() any { return new(PutRecordsInput) })
	}
	long := strings.Repeat("a", 7<<20)
	for _, f := range []Format{FormatJSON, FormatCBOR} {
		for _, c := range []struct {
			member   string
			newInput func() any
			code     ErrorCode
			msg      string
		}{
			{"x", func() any { return new(ListShardsInput) }, CodeSerialization, "string too long for any Kinesis request"},
			{"StreamName", func() any { return new(ListShardsInput) }, CodeValidation,
				"Value of more than 128 characters at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128"},
			{"ShardIterator", func() any { return new(GetRecordsInput) }, CodeValidation,
				"Value of more than 512 characters at 'shardIterator' failed to satisfy constraint: Member must have length less than or equal to 512"},
			{"NextToken", func() any { return new(ListStreamsInput) }, CodeValidation,
				"Value of more than 1048576 characters at 'nextToken' failed to satisfy constraint: Member must have length less than or equal to 1048576"},
			{"Policy", func() any { return new(PutResourcePolicyInput) }, CodeValidation, "at 'policy'"},
		} {
			body := []byte(`{"` + c.member + `":"` + long + `"}`)
			if f == FormatCBOR {
				body = cborMapOf(c.member, appendCBORText(nil, long))
			}
			checkHostile(t, hostileCase{c.member + " " + f.String(), f, body, c.code, c.msg}, c.newInput)
		}
	}

	// A member repeated up to the entry limit costs what one does (and the
	// first sizing of the blob buffer, initialBlobs).
	body := repeatJSON(`{"Records":[{"Data":"",`, `"PartitionKey":"`+strings.Repeat("k", 1000)+`"`, "}]}", 999)
	var in PutRecordsInput
	err, heap := decodeHeap(FormatJSON, body, &in)
	if err != nil || len(in.Records) != 1 || len(in.Records[0].PartitionKey) != 1000 {
		t.Fatalf("repeated partition key: err %v, %+v", err, in.Records)
	}
	if heap > initialBlobs+16<<10 {
		t.Errorf("999 repeats of a 1000-byte member allocated %d bytes; want at most %d", heap, initialBlobs+16<<10)
	}
}

// TestDecoder_DropsLargeScratch checks that a pooled Decoder does not keep,
// for the bodies that follow, the scratch space a long escaped member of one
// body needed.
func TestDecoder_DropsLargeScratch(t *testing.T) {
	var d Decoder
	var in PutRecordsInput
	long := []byte(`{"StreamId":"` + strings.Repeat(`\u0041`, 1<<20) + `"}`)
	if err := d.Decode(FormatJSON, long, &in); err != nil || len(in.StreamId) != 1<<20 {
		t.Fatalf("err %v, StreamId of %d bytes", err, len(in.StreamId))
	}
	if err := d.Decode(FormatJSON, []byte(`{"StreamName":"s"}`), &in); err != nil {
		t.Fatal(err)
	}
	if n := cap(d.scratch); n > maxKeptScratch {
		t.Errorf("the Decoder keeps %d bytes of scratch after a small body; want at most %d", n, maxKeptScratch)
	}
}
