package kinesis

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// The PutRecords request is the hot path of the API: up to 500 records and
// 10 MiB per call. These decoders fill a PutRecordsInput without allocating
// per record: record data is base64-decoded into the Decoder's blob buffer
// (JSON) or sliced straight out of the body (CBOR definite-length byte
// strings), and all strings are gathered in one buffer and converted with a
// single allocation at the end. They accept and reject exactly what
// encoding/json (JSON) and fxamacker/cbor with cborDecMode (CBOR) do, except
// that the CBOR path rejects tags, which the Kinesis API never sends outside
// timestamps; FuzzDecodeJSON and FuzzDecodeCBOR check this.

// emptyBlob is the Data of a zero-length record: non-nil, so that it differs
// from an absent Data.
var emptyBlob = []byte{}

// emptyEntries is the Records of "Records": [] when the input had no backing
// array: non-nil, so that it differs from an absent or null Records.
var emptyEntries = []PutRecordsRequestEntry{}

var errEmptyBody = errors.New("the body is empty")

// beginPutRecords resets in and the decoder's buffers. blobBytes is the most
// record data the body can decode to outside of the body itself (JSON: its
// base64 decoded; CBOR: 0, as record data is sliced from the body).
func (d *Decoder) beginPutRecords(in *PutRecordsInput, blobBytes int) {
	*in = PutRecordsInput{Records: in.Records[:0]}
	if in.Records != nil && cap(in.Records) == 0 {
		in.Records = nil
	}
	if cap(d.blobs) < blobBytes {
		d.blobs = make([]byte, 0, blobBytes)
	}
	d.blobs = d.blobs[:0]
	d.text = d.text[:0]
	d.refs = d.refs[:0]
}

// resetRecords starts a new Records list (a repeated Records member replaces
// the earlier one), dropping the text of the earlier entries.
func (d *Decoder) resetRecords(in *PutRecordsInput, null bool) {
	if null {
		in.Records = nil
	} else if in.Records == nil {
		in.Records = emptyEntries
	} else {
		in.Records = in.Records[:0]
	}
	kept := d.refs[:0]
	for _, ref := range d.refs {
		if ref.rec < 0 {
			kept = append(kept, ref)
		}
	}
	d.refs = kept
}

// addText records decoded text for a string member.
func (d *Decoder) addText(rec int, field uint8, s []byte) {
	off := len(d.text)
	d.text = append(d.text, s...)
	d.refs = append(d.refs, textRef{rec: int32(rec), field: field, off: int32(off), end: int32(len(d.text))})
}

// finishPutRecords converts the gathered text to one string and assigns it.
func (d *Decoder) finishPutRecords(in *PutRecordsInput) {
	if len(d.refs) == 0 {
		return
	}
	all := string(d.text)
	for _, ref := range d.refs {
		s := all[ref.off:ref.end]
		if ref.rec < 0 {
			switch ref.field {
			case fieldStreamName:
				in.StreamName = s
			case fieldStreamARN:
				in.StreamARN = s
			case fieldStreamID:
				in.StreamId = s
			}
			continue
		}
		e := &in.Records[ref.rec]
		switch ref.field {
		case fieldPartitionKey:
			e.PartitionKey = s
		case fieldExplicitHashKey:
			e.ExplicitHashKey = s
		}
	}
}

// decodeBase64 decodes src into the blob buffer and returns the record data.
func (d *Decoder) decodeBase64(src []byte) ([]byte, error) {
	need := base64.StdEncoding.DecodedLen(len(src))
	start := len(d.blobs)
	if cap(d.blobs)-start < need {
		// Earlier records keep pointing into the old buffer, which stays valid.
		grown := make([]byte, 0, 2*cap(d.blobs)+need)
		d.blobs, start = grown, 0
	}
	n, err := base64.StdEncoding.Decode(d.blobs[start:start+need], src)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return emptyBlob, nil
	}
	d.blobs = d.blobs[:start+n]
	return d.blobs[start : start+n : start+n], nil
}

// decodePutRecordsJSON decodes a JSON PutRecords body.
func (d *Decoder) decodePutRecordsJSON(body []byte, in *PutRecordsInput) error {
	d.beginPutRecords(in, base64.StdEncoding.DecodedLen(len(body)))
	r := jsonReader{buf: body}
	r.ws()
	if r.pos == len(body) {
		return errEmptyBody
	}
	obj, err := r.readObject()
	if err != nil {
		return err
	}
	for {
		key, escaped, ok, err := r.nextMember(&obj)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if escaped {
			d.scratch = appendUnquoted(d.scratch[:0], key)
			key = d.scratch
		}
		switch {
		case keyMatches(key, "Records"):
			err = d.jsonRecords(&r, in)
		case keyMatches(key, "StreamName"):
			err = d.jsonText(&r, -1, fieldStreamName, "StreamName")
		case keyMatches(key, "StreamARN"):
			err = d.jsonText(&r, -1, fieldStreamARN, "StreamARN")
		case keyMatches(key, "StreamId"):
			err = d.jsonText(&r, -1, fieldStreamID, "StreamId")
		case keyMatches(key, "DryRun"):
			var v, present bool
			v, present, err = r.readBool()
			if err != nil {
				err = fmt.Errorf("member DryRun must be a boolean: %w", err)
			} else if present {
				in.DryRun = v
			}
		default:
			err = r.skipValue()
		}
		if err != nil {
			return err
		}
	}
	if err := r.end(); err != nil {
		return err
	}
	d.finishPutRecords(in)
	return nil
}

// jsonText reads a string member (null leaves it unchanged, as encoding/json does).
func (d *Decoder) jsonText(r *jsonReader, rec int, field uint8, name string) error {
	if null, err := r.readNull(); null || err != nil {
		return err
	}
	raw, escaped, err := r.readString()
	if err != nil {
		return fmt.Errorf("member %s must be a string: %w", name, err)
	}
	if escaped {
		d.scratch = appendUnquoted(d.scratch[:0], raw)
		raw = d.scratch
	}
	d.addText(rec, field, raw)
	return nil
}

// jsonRecords reads the Records list.
func (d *Decoder) jsonRecords(r *jsonReader, in *PutRecordsInput) error {
	null, err := r.readNull()
	if err != nil {
		return err
	}
	if null {
		d.resetRecords(in, true)
		return nil
	}
	arr, err := r.readArray()
	if err != nil {
		return fmt.Errorf("member Records must be a list: %w", err)
	}
	d.resetRecords(in, false)
	for {
		more, err := r.nextElement(&arr)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		in.Records = append(in.Records, PutRecordsRequestEntry{})
		i := len(in.Records) - 1
		if null, err := r.readNull(); null || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		obj, err := r.readObject()
		if err != nil {
			return fmt.Errorf("member Records[%d] must be a structure: %w", i, err)
		}
		for {
			key, escaped, ok, err := r.nextMember(&obj)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if escaped {
				d.scratch = appendUnquoted(d.scratch[:0], key)
				key = d.scratch
			}
			switch {
			case keyMatches(key, "Data"):
				err = d.jsonData(r, &in.Records[i], i)
			case keyMatches(key, "PartitionKey"):
				err = d.jsonText(r, i, fieldPartitionKey, "PartitionKey")
			case keyMatches(key, "ExplicitHashKey"):
				err = d.jsonText(r, i, fieldExplicitHashKey, "ExplicitHashKey")
			default:
				err = r.skipValue()
			}
			if err != nil {
				return err
			}
		}
	}
}

// jsonData reads a record's base64 Data (null sets it to nil, as encoding/json does).
func (d *Decoder) jsonData(r *jsonReader, e *PutRecordsRequestEntry, i int) error {
	null, err := r.readNull()
	if err != nil {
		return err
	}
	if null {
		e.Data = nil
		return nil
	}
	// Fast path (nearly every record): find the closing quote with the
	// vectorized IndexByte and base64-decode the bytes before it. Success
	// proves they are plain base64 characters, so the string has no escape
	// (hence that quote closes it) and no control character, once CR and LF,
	// which the base64 decoder skips, are ruled out. Anything else takes the
	// validating path below.
	if r.pos < len(r.buf) && r.buf[r.pos] == '"' {
		seg := r.buf[r.pos+1:]
		if end := bytes.IndexByte(seg, '"'); end >= 0 {
			seg = seg[:end]
			if bytes.IndexByte(seg, '\n') < 0 && bytes.IndexByte(seg, '\r') < 0 {
				if data, err := d.decodeBase64(seg); err == nil {
					r.pos += end + 2
					e.Data = data
					return nil
				}
			}
		}
	}
	raw, escaped, err := r.readString()
	if err != nil {
		return fmt.Errorf("member Records[%d].Data must be a base64 string: %w", i, err)
	}
	if escaped {
		d.scratch = appendUnquoted(d.scratch[:0], raw)
		raw = d.scratch
	}
	data, err := d.decodeBase64(raw)
	if err != nil {
		return fmt.Errorf("member Records[%d].Data is not valid base64: %w", i, err)
	}
	e.Data = data
	return nil
}

// decodePutRecordsCBOR decodes a CBOR PutRecords body.
func (d *Decoder) decodePutRecordsCBOR(body []byte, in *PutRecordsInput) error {
	d.beginPutRecords(in, 0)
	if len(body) == 0 {
		return errEmptyBody
	}
	r := cborReader{buf: body}
	m, err := r.readMap()
	if err != nil {
		return fmt.Errorf("the body must be a CBOR map: %w", err)
	}
	for {
		more, err := r.next(&m)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		var key []byte
		key, d.scratch, err = r.readString(true, d.scratch[:0])
		if err != nil {
			return fmt.Errorf("map key: %w", err)
		}
		switch string(key) {
		case "Records":
			err = d.cborRecords(&r, in)
		case "StreamName":
			err = d.cborText(&r, -1, fieldStreamName, "StreamName")
		case "StreamARN":
			err = d.cborText(&r, -1, fieldStreamARN, "StreamARN")
		case "StreamId":
			err = d.cborText(&r, -1, fieldStreamID, "StreamId")
		case "DryRun":
			var v, present bool
			v, present, err = r.readBool()
			if err != nil {
				err = fmt.Errorf("member DryRun must be a boolean: %w", err)
			} else if present {
				in.DryRun = v
			}
		default:
			err = r.skip()
		}
		if err != nil {
			return err
		}
	}
	r.leave()
	if r.pos != len(body) {
		return fmt.Errorf("%d bytes of extraneous data after the CBOR map", len(body)-r.pos)
	}
	d.finishPutRecords(in)
	return nil
}

// cborText reads a text member (null and undefined leave it unchanged).
func (d *Decoder) cborText(r *cborReader, rec int, field uint8, name string) error {
	if null, err := r.readNull(); null || err != nil {
		return err
	}
	var s []byte
	var err error
	s, d.scratch, err = r.readString(true, d.scratch[:0])
	if err != nil {
		return fmt.Errorf("member %s must be a text string: %w", name, err)
	}
	d.addText(rec, field, s)
	return nil
}

// cborRecords reads the Records array.
func (d *Decoder) cborRecords(r *cborReader, in *PutRecordsInput) error {
	null, err := r.readNull()
	if err != nil {
		return err
	}
	if null {
		d.resetRecords(in, true)
		return nil
	}
	arr, err := r.readArray()
	if err != nil {
		return fmt.Errorf("member Records must be an array: %w", err)
	}
	d.resetRecords(in, false)
	for {
		more, err := r.next(&arr)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		in.Records = append(in.Records, PutRecordsRequestEntry{})
		i := len(in.Records) - 1
		if null, err := r.readNull(); null || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		m, err := r.readMap()
		if err != nil {
			return fmt.Errorf("member Records[%d] must be a map: %w", i, err)
		}
		for {
			more, err := r.next(&m)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			var key []byte
			key, d.scratch, err = r.readString(true, d.scratch[:0])
			if err != nil {
				return fmt.Errorf("member Records[%d] map key: %w", i, err)
			}
			switch string(key) {
			case "Data":
				err = d.cborData(r, &in.Records[i], i)
			case "PartitionKey":
				err = d.cborText(r, i, fieldPartitionKey, "PartitionKey")
			case "ExplicitHashKey":
				err = d.cborText(r, i, fieldExplicitHashKey, "ExplicitHashKey")
			default:
				err = r.skip()
			}
			if err != nil {
				return err
			}
		}
		r.leave()
	}
	r.leave()
	return nil
}

// cborData reads a record's Data byte string (null and undefined set it to nil).
func (d *Decoder) cborData(r *cborReader, e *PutRecordsRequestEntry, i int) error {
	null, err := r.readNull()
	if err != nil {
		return err
	}
	if null {
		e.Data = nil
		return nil
	}
	data, blobs, err := r.readString(false, d.blobs)
	if err != nil {
		return fmt.Errorf("member Records[%d].Data must be a byte string: %w", i, err)
	}
	// If the chunks of an indefinite-length string outgrew the buffer, append
	// moved it; earlier records keep pointing into the old one, which stays valid.
	d.blobs = blobs
	if len(data) == 0 {
		data = emptyBlob
	}
	e.Data = data
	return nil
}
