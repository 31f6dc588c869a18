package kinesis

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicedb/sluice/api"
)

// The PutRecords request is the hot path of the API: up to 500 records and
// 10 MiB per call. These decoders fill a PutRecordsInput without allocating
// per record: record data is base64-decoded into the Decoder's blob buffer
// (JSON) or sliced straight out of the body (CBOR definite-length byte
// strings), and all strings are gathered in one buffer and converted with a
// single allocation at the end. They accept and reject exactly what
// encoding/json (JSON) and fxamacker/cbor with cborDecMode (CBOR) do, except
// that the CBOR path rejects tags, which the Kinesis API never sends outside
// timestamps, and that both stop at the decoder limits (tokens.go) and at the
// 501st record, before it costs anything; FuzzDecodeJSON and FuzzDecodeCBOR
// check this.

// emptyBlob is the Data of a zero-length record: non-nil, so that it differs
// from an absent Data.
var emptyBlob = []byte{}

// emptyEntries is the Records of "Records": [] when the input had no backing
// array: non-nil, so that it differs from an absent or null Records.
var emptyEntries = []PutRecordsRequestEntry{}

var errEmptyBody = errors.New("the body is empty")

// initialBlobs is the most the blob buffer is sized for before any record
// data is read: 64 KiB, or what the previous body decoded to. Past that it
// grows by doubling with the data actually decoded, not with what the size of
// the body suggests.
const initialBlobs = 64 << 10

// beginPutRecords resets in and the decoder's buffers. blobBytes is the most
// record data the body can decode to outside of the body itself (JSON: its
// base64 decoded; CBOR: 0, as record data is sliced from the body).
func (d *Decoder) beginPutRecords(in *PutRecordsInput, blobBytes int) {
	*in = PutRecordsInput{Records: in.Records[:0]}
	if in.Records != nil && cap(in.Records) == 0 {
		in.Records = nil
	}
	if n := min(blobBytes, max(initialBlobs, d.blobsDecoded)); cap(d.blobs) < n {
		d.blobs = make([]byte, 0, n)
	}
	d.blobsDecoded = 0
	d.blobs = d.blobs[:0]
	d.text = d.text[:0]
	d.refs = d.refs[:0]
	d.entryPresent = d.entryPresent[:0]
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
	d.entryPresent = d.entryPresent[:0]
	kept := d.refs[:0]
	for _, ref := range d.refs {
		if ref.rec < 0 {
			kept = append(kept, ref)
		}
	}
	d.refs = kept
}

// addText records decoded text for a string member. A repeated member
// replaces the earlier value, as encoding/json does, and reuses its text when
// that was the last gathered, so that repeating members costs no more than
// the body (an entry's references are at the tail; the body's are few).
func (d *Decoder) addText(rec int, field uint8, s []byte) {
	for i := len(d.refs) - 1; i >= 0; i-- {
		ref := &d.refs[i]
		if rec >= 0 && int(ref.rec) != rec {
			break
		}
		if int(ref.rec) == rec && ref.field == field {
			if int(ref.end) == len(d.text) {
				d.text = d.text[:ref.off]
			}
			ref.off = int32(len(d.text))
			d.text = append(d.text, s...)
			ref.end = int32(len(d.text))
			return
		}
	}
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
			d.entryPresent[ref.rec] |= 1 << prEntry[1].bit
		case fieldExplicitHashKey:
			e.ExplicitHashKey = s
			d.entryPresent[ref.rec] |= 1 << prEntry[2].bit
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
	n, err := strictBase64.Decode(d.blobs[start:start+need], src)
	if err != nil {
		return nil, err
	}
	d.blobsDecoded += n
	if n == 0 {
		return emptyBlob, nil
	}
	d.blobs = d.blobs[:start+n]
	return d.blobs[start : start+n : start+n], nil
}

// decodePutRecordsJSON decodes a JSON PutRecords body.
func (d *Decoder) decodePutRecordsJSON(body []byte, in *PutRecordsInput) error {
	d.beginPutRecords(in, base64.StdEncoding.DecodedLen(len(body)))
	d.json = jsonReader{cursor{buf: body}}
	defer func() { d.json = jsonReader{} }()
	d.json.ws()
	if d.json.pos == len(body) {
		return errEmptyBody
	}
	return d.putRecords(&d.json, in)
}

// decodePutRecordsCBOR decodes a CBOR PutRecords body.
func (d *Decoder) decodePutRecordsCBOR(body []byte, in *PutRecordsInput) error {
	d.beginPutRecords(in, 0)
	if len(body) == 0 {
		return errEmptyBody
	}
	d.cbor = cborReader{cursor{buf: body}}
	defer func() { d.cbor = cborReader{} }()
	return d.putRecords(&d.cbor, in)
}

// The members of PutRecordsInput and of its entries that the walk reads.
var (
	inputMembers = [...]string{"Records", "StreamName", "StreamARN", "StreamId", "DryRun"}
	entryMembers = [...]string{"Data", "PartitionKey", "ExplicitHashKey"}
)

// The table's members of PutRecords (model.go), by which the walk checks
// wire types and records presence: prTop by name in inputMembers' order,
// prEntry the entries' in entryMembers' order, prElem the entry structure.
var (
	prTop   [len(inputMembers)]*member
	prEntry [len(entryMembers)]*member
	prElem  *member
)

// bindPutRecords binds the walk to the resolved table.
func bindPutRecords() {
	ms := opModels[OpPutRecords]
	for i, name := range inputMembers {
		prTop[i] = memberOfModel(ms, name)
	}
	prElem = prTop[0].elem
	for i, name := range entryMembers {
		prEntry[i] = memberOfModel(prElem.fields, name)
	}
}

// expect checks that the value r stands at fits member mb (see mismatch)
// and reports whether it is null.
func (d *Decoder) expect(r tokenReader, mb *member) (null bool, err error) {
	k, err := r.kind()
	if err != nil {
		return false, err
	}
	var bad error
	if bad, d.scratch = mismatch(r, mb, k, d.scratch); bad != nil {
		return false, bad
	}
	return k == kindNull, nil
}

// mark records in the body's presence set that top-level member i of
// inputMembers is present (or, after a null, absent).
func (d *Decoder) mark(i int, null bool) {
	if bit := uint64(1) << prTop[i].bit; null {
		d.present &^= bit
	} else {
		d.present |= bit
	}
}

// memberName returns the name in names that key selects, or "" for an
// unknown member. The exact names (what the SDKs send) are matched without
// asking the reader for its format's rule.
func memberName(r tokenReader, key []byte, names []string) string {
	for _, name := range names {
		if string(key) == name {
			return name
		}
	}
	for _, name := range names {
		if r.keyIs(key, name) {
			return name
		}
	}
	return ""
}

// eachMember reads the map that opens the body and calls member with each
// key, the reader standing at its value; it returns member's first error, or
// checks what follows the map.
func (d *Decoder) eachMember(r tokenReader, member func(key []byte) error) error {
	m := &d.open[0]
	var err error
	if *m, err = r.readMap(); err != nil {
		return fmt.Errorf("the body must be a structure: %w", err)
	}
	for {
		var key []byte
		var ok bool
		key, d.scratch, ok, err = r.nextKey(m, d.scratch)
		if err != nil {
			return err
		}
		if !ok {
			return r.end()
		}
		if err := member(key); err != nil {
			return err
		}
	}
}

// putRecords walks a PutRecords body, whatever its format.
func (d *Decoder) putRecords(r tokenReader, in *PutRecordsInput) error {
	err := d.eachMember(r, func(key []byte) error {
		name := memberName(r, key, inputMembers[:])
		for i := range inputMembers {
			if inputMembers[i] == name {
				null, err := d.expect(r, prTop[i])
				if err != nil {
					return err
				}
				d.mark(i, null)
			}
		}
		switch name {
		case "Records":
			return d.records(r, in)
		case "StreamName":
			return d.member(r, -1, fieldStreamName)
		case "StreamARN":
			return d.member(r, -1, fieldStreamARN)
		case "StreamId":
			return d.member(r, -1, fieldStreamID)
		case "DryRun":
			v, present, err := r.readBool()
			if err != nil {
				return fmt.Errorf("member DryRun must be a boolean: %w", err)
			}
			if present {
				in.DryRun = v
			}
			return nil
		}
		return r.skip()
	})
	if err != nil {
		return err
	}
	d.finishPutRecords(in)
	return nil
}

// textFields are the string members of PutRecords, by field (paths of an
// entry's members follow "records.N.member."). StreamId, reserved by AWS,
// has no constraint: it gets the decoders' limit on any string.
var textFields = [...]textLimit{
	fieldStreamName:      {"StreamName", "streamName", maxNameLen, lengthAtMost128},
	fieldStreamARN:       {"StreamARN", "streamARN", maxARNLen, lengthAtMost2048},
	fieldStreamID:        {"StreamId", "streamId", maxTextChars, ""},
	fieldPartitionKey:    {"PartitionKey", "partitionKey", maxPartitionKey, "Member must have length less than or equal to 256"},
	fieldExplicitHashKey: {"ExplicitHashKey", "explicitHashKey", hashKeyDigits, hashKeyPattern},
}

// member reads the string member field of the body (rec < 0) or of
// Records[rec] (null leaves it unchanged, as encoding/json and fxamacker/cbor
// do). A string certainly longer than the model allows is refused before it
// is decoded, with the ValidationException its constraint gives.
func (d *Decoder) member(r tokenReader, rec int, field uint8) error {
	f := &textFields[field]
	s, scratch, null, err := r.readText(d.scratch, f.maxChars)
	d.scratch = scratch
	if err != nil {
		path := f.path
		if rec >= 0 {
			path = entryMember(rec, path)
		}
		return f.refuse(path, err)
	}
	if !null {
		d.addText(rec, field, s)
	}
	return nil
}

// records reads the Records list.
func (d *Decoder) records(r tokenReader, in *PutRecordsInput) error {
	null, err := r.readNull()
	if err != nil {
		return err
	}
	if null {
		d.resetRecords(in, true)
		return nil
	}
	arr := &d.open[1]
	if *arr, err = r.readArray(); err != nil {
		return fmt.Errorf("member Records must be a list: %w", err)
	}
	d.resetRecords(in, false)
	for {
		more, err := r.nextElement(arr)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if len(in.Records) == api.MaxPutRecords {
			// Stop at the first entry past the limit, before it costs anything.
			return ValidationError("records", "["+strconv.Itoa(api.MaxPutRecords+1)+" or more items]",
				"Member must have length less than or equal to "+strconv.Itoa(api.MaxPutRecords))
		}
		in.Records = append(in.Records, PutRecordsRequestEntry{})
		d.entryPresent = append(d.entryPresent, 0)
		i := len(in.Records) - 1
		if _, err := d.expect(r, prElem); err != nil {
			return err
		}
		if null, err := r.readNull(); null || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		if err := d.entry(r, &in.Records[i], i); err != nil {
			return err
		}
	}
}

// entry reads the structure of Records[i] into e.
func (d *Decoder) entry(r tokenReader, e *PutRecordsRequestEntry, i int) error {
	m := &d.open[2]
	var err error
	if *m, err = r.readMap(); err != nil {
		return fmt.Errorf("member Records[%d] must be a structure: %w", i, err)
	}
	for {
		var key []byte
		var ok bool
		key, d.scratch, ok, err = r.nextKey(m, d.scratch)
		if err != nil {
			return fmt.Errorf("member Records[%d]: %w", i, err)
		}
		if !ok {
			return nil
		}
		name := memberName(r, key, entryMembers[:])
		for j := range entryMembers {
			if entryMembers[j] == name {
				if _, err := d.expect(r, prEntry[j]); err != nil {
					return err
				}
			}
		}
		switch name {
		case "Data":
			err = d.data(r, e, i)
		case "PartitionKey":
			err = d.member(r, i, fieldPartitionKey)
		case "ExplicitHashKey":
			err = d.member(r, i, fieldExplicitHashKey)
		default:
			err = r.skip()
		}
		if err != nil {
			return err
		}
	}
}

// data reads a record's Data (null sets it to nil, as encoding/json and
// fxamacker/cbor do).
func (d *Decoder) data(r tokenReader, e *PutRecordsRequestEntry, i int) error {
	data, null, err := r.readBlob(d)
	if err != nil {
		return fmt.Errorf("member Records[%d].Data %w", i, err)
	}
	if null {
		e.Data = nil
		return nil
	}
	if len(data) == 0 {
		data = emptyBlob
	}
	e.Data = data
	return nil
}
