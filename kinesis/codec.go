package kinesis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"reflect"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Format is a body encoding of the Kinesis API.
type Format uint8

// Body formats. The zero Format is invalid.
const (
	// FormatJSON is application/x-amz-json-1.1 (Go, JS and Python SDKs, the
	// AWS CLI, the Java SDKs with CBOR disabled): blobs as base64 strings,
	// timestamps as epoch seconds.
	FormatJSON Format = iota + 1
	// FormatCBOR is application/x-amz-cbor-1.1 (the Java SDK v2 and v1
	// default): the same shapes in CBOR, blobs as byte strings, timestamps as
	// epoch milliseconds.
	FormatCBOR
)

// Content types of the formats.
const (
	ContentTypeJSON = "application/x-amz-json-1.1"
	ContentTypeCBOR = "application/x-amz-cbor-1.1"
)

// ContentType returns the media type of f (JSON for an invalid Format, the
// format AWS answers unreadable requests in).
func (f Format) ContentType() string {
	if f == FormatCBOR {
		return ContentTypeCBOR
	}
	return ContentTypeJSON
}

// String names the format.
func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "JSON"
	case FormatCBOR:
		return "CBOR"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// FormatOf returns the format of a request Content-Type header:
// application/x-amz-json-1.1 (also 1.0) or application/x-amz-cbor-1.1, with
// or without parameters. ok is false for anything else.
func FormatOf(contentType string) (f Format, ok bool) {
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		if parsed, _, err := mime.ParseMediaType(contentType); err == nil {
			mt = parsed
		} else {
			mt = mt[:i]
		}
	}
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch mt {
	case ContentTypeJSON, "application/x-amz-json-1.0":
		return FormatJSON, true
	case ContentTypeCBOR:
		return FormatCBOR, true
	}
	return 0, false
}

// cborDecMode decodes CBOR request bodies for the operations off the hot
// path: member names match exactly (AWS is case-sensitive), unknown members
// are ignored, indefinite-length items (which the Java SDK's Jackson
// generator writes) are accepted, text must be valid UTF-8.
var cborDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		IndefLength:       cbor.IndefLengthAllowed,
		UTF8:              cbor.UTF8RejectInvalid,
		MaxNestedLevels:   maxDepth,
		MaxArrayElements:  maxEntries,
		MaxMapPairs:       maxEntries,
	}.DecMode()
	if err != nil {
		panic(err) // static options; covered by every test
	}
	return dm
}()

// cborEncMode encodes CBOR responses off the hot path.
var cborEncMode = func() cbor.EncMode {
	em, err := cbor.EncOptions{}.EncMode()
	if err != nil {
		panic(err) // static options; covered by every test
	}
	return em
}()

// Decoder decodes request bodies into the input shapes. PutRecordsInput
// takes a hand-written path that allocates nothing per record (see
// PutRecordsInput for how long its slices live); every other shape is decoded
// by encoding/json or github.com/fxamacker/cbor. A Decoder is reusable and
// not safe for concurrent use; pool one per connection or request. It keeps
// its buffers (about twice the most record data of a JSON PutRecords body it
// decoded) for the next request; drop it to release them. Every body is
// held to the decoder limits of tokens.go (nesting, entries, string lengths)
// and its lists to the model's lengths before anything is built from it.
type Decoder struct {
	// blobs holds decoded record data (JSON base64, chunked CBOR byte strings).
	blobs []byte
	// blobsDecoded is the JSON record data decoded from the current body, by
	// which the next one sizes blobs.
	blobsDecoded int
	// text holds decoded strings until they are converted to one string.
	text []byte
	// scratch holds an unescaped key or base64 text with escapes.
	scratch []byte
	// refs records which member each span of text belongs to.
	refs []textRef
	// json and cbor read the PutRecords body being decoded, and open holds
	// the containers the walk has open (the body, Records, one entry): they
	// live here so that handing them to the reader through the tokenReader
	// interface does not allocate.
	json jsonReader
	cbor cborReader
	open [3]container
	// present is the presence set of the members of the body last decoded
	// (bit member.bit of its table in model.go): which it carried, not
	// null, even as empty strings.
	present uint64
	// nestedPresent is the presence set of the nested structure of the
	// body being checked; entryPresent those of PutRecords' entries.
	nestedPresent uint64
	entryPresent  []uint8
	// numberFixes are the integer and boolean members of the JSON body
	// being checked that AWS reads other than as written (see integerFix,
	// booleanText).
	numberFixes []numberFix
}

// maxKeptScratch is the most scratch space a Decoder keeps between bodies:
// 64 KiB, far more than any member but Policy and NextToken (which go through
// it only when escaped) needs.
const maxKeptScratch = 64 << 10

// textRef places text[off:end] in a string member: the top-level member
// (rec < 0) or member field of Records[rec].
type textRef struct {
	rec      int32
	field    uint8
	off, end int32
}

// Members of PutRecordsInput and its entries that take decoded text.
const (
	fieldStreamName uint8 = iota
	fieldStreamARN
	fieldStreamID
	fieldPartitionKey
	fieldExplicitHashKey
)

// Decode decodes body in format f into v, a pointer to an input shape. A
// body that is empty, not one well-formed document, not an object at the top,
// has a member of the wrong type or breaks a decoder limit gives a
// SerializationException, as AWS answers; a list longer than the model
// allows (Records, Tags, TagKeys, ShardLevelMetrics) or a string member
// certainly longer gives its ValidationException. Other missing or
// out-of-range members are not checked here.
func (d *Decoder) Decode(f Format, body []byte, v any) error {
	if cap(d.scratch) > maxKeptScratch {
		d.scratch = nil // a long escaped string of an earlier body
	}
	d.present = 0
	var err error
	switch f {
	case FormatJSON:
		if in, ok := v.(*PutRecordsInput); ok {
			err = d.decodePutRecordsJSON(body, in)
		} else {
			err = d.decodeJSON(body, v)
		}
	case FormatCBOR:
		if in, ok := v.(*PutRecordsInput); ok {
			err = d.decodePutRecordsCBOR(body, in)
		} else {
			err = d.decodeCBOR(body, v)
		}
	default:
		return fmt.Errorf("kinesis: decode: invalid format %d", f)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return Errorf(CodeSerialization, "cannot read the %s request body: %v", f, err)
	}
	return nil
}

// decodeJSON decodes a JSON body with encoding/json, once checkBody has
// found it within the limits.
func (d *Decoder) decodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return errors.New("the body is empty; send a JSON object such as {}")
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("the body must be a JSON object, not %s", jsonKindOf(trimmed[0]))
	}
	if err := d.checkBody(FormatJSON, body, v); err != nil {
		return err
	}
	if len(d.numberFixes) > 0 {
		body = d.fixNumbers(body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("malformed JSON at byte %d: %s", se.Offset, se.Error())
		case errors.As(err, &te):
			return fmt.Errorf("member %s must be %s, not a JSON %s", te.Field, kindName(te.Type), te.Value)
		}
		return err
	}
	return nil
}

// decodeCBOR decodes a CBOR body with fxamacker/cbor, once checkBody has
// found it within the limits.
func (d *Decoder) decodeCBOR(body []byte, v any) error {
	if len(body) == 0 {
		return errors.New("the body is empty; send a CBOR map")
	}
	if body[0]&cborMajorMask != cborMajorMap {
		return fmt.Errorf("the body must be a CBOR map, not a %s", cborTypeName(body[0]&cborMajorMask))
	}
	if err := d.checkBody(FormatCBOR, body, v); err != nil {
		return err
	}
	if err := cborDecMode.Unmarshal(body, v); err != nil {
		var te *cbor.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("member %s cannot be a CBOR %s (Go type %s)", te.StructFieldName, te.CBORType, te.GoType)
		}
		return err
	}
	return nil
}

// kindName describes the wire type a Go type of the shapes expects.
func kindName(t reflect.Type) string {
	if t == nil {
		return "a value of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a blob"
		}
		return "a list"
	case reflect.Map:
		return "a map"
	case reflect.Struct:
		if t == reflect.TypeFor[Timestamp]() {
			return "a timestamp"
		}
		return "a structure"
	}
	return "a " + t.Kind().String()
}

// AppendResponse appends the body of a successful response in format f for
// v, a pointer to an output shape. GetRecordsOutput, PutRecordsOutput and
// SubscribeToShardEvent take the allocation-free hand-written path; the other
// shapes go through encoding/json or fxamacker/cbor.
func AppendResponse(dst []byte, f Format, v any) ([]byte, error) {
	switch out := v.(type) {
	case *GetRecordsOutput:
		w := beginRecordsOf(dst, f, out.Records)
		return w.FinishGetRecords(out.NextShardIterator, out.MillisBehindLatest, out.ChildShards), nil
	case *SubscribeToShardEvent:
		w := beginRecordsOf(dst, f, out.Records)
		return w.FinishSubscribeToShardEvent(out.ContinuationSequenceNumber, out.MillisBehindLatest, out.ChildShards), nil
	case *PutRecordsOutput:
		var w PutRecordsWriter
		w.Begin(dst, f)
		for i := range out.Records {
			e := &out.Records[i]
			if e.ErrorCode != "" {
				w.Failure(e.ErrorCode, e.ErrorMessage)
			} else {
				w.success(e.SequenceNumber, e.ShardId)
			}
		}
		return w.Finish(out.EncryptionType), nil
	}
	fillRequiredLists(reflect.ValueOf(v))
	switch f {
	case FormatJSON:
		b := bytes.NewBuffer(dst)
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return dst, fmt.Errorf("kinesis: encode %T as JSON: %w", v, err)
		}
		out := b.Bytes()
		return out[:len(out)-1], nil // Encode ends with a newline
	case FormatCBOR:
		b, err := cborEncMode.Marshal(v)
		if err != nil {
			return dst, fmt.Errorf("kinesis: encode %T as CBOR: %w", v, err)
		}
		return append(dst, b...), nil
	}
	return dst, fmt.Errorf("kinesis: encode: invalid format %d", f)
}

// beginRecordsOf returns a RecordsWriter that has written records.
func beginRecordsOf(dst []byte, f Format, records []Record) RecordsWriter {
	var w RecordsWriter
	w.Begin(dst, f)
	for i := range records {
		w.record(&records[i])
	}
	return w
}

// fillRequiredLists replaces the nil slices of members AWS always sends
// (tagged without omitempty) by empty ones, so that they encode as [] rather
// than null, as AWS answers them; it walks nested structures and lists.
func fillRequiredLists(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			fillRequiredLists(v.Elem())
		}
	case reflect.Slice:
		if k := v.Type().Elem().Kind(); k == reflect.Struct || k == reflect.Pointer {
			for i := 0; i < v.Len(); i++ {
				fillRequiredLists(v.Index(i))
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			field := v.Field(i)
			if !t.Field(i).IsExported() {
				continue
			}
			if field.Kind() == reflect.Slice && field.IsNil() && field.CanSet() &&
				field.Type().Elem().Kind() != reflect.Uint8 && !strings.Contains(t.Field(i).Tag.Get("json"), ",omitempty") {
				field.Set(reflect.MakeSlice(field.Type(), 0, 0))
				continue
			}
			fillRequiredLists(field)
		}
	}
}
