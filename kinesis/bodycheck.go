package kinesis

import (
	"errors"
	"fmt"
	"reflect"
)

// The reflective decoders (encoding/json, fxamacker/cbor) build every map
// entry, list element and string a body holds before validation can count
// them. checkBody walks the body first with the hand-written readers, which
// allocate nothing, and refuses what no request needs (the decoder limits of
// tokens.go) and lists past the model's length, so that a hostile body costs
// what the model allows and not what it declares.

// textLimit is the model's most characters of a string member of a
// request, with its path in validation messages and the constraint AWS
// quotes when it is broken.
type textLimit struct {
	name, path string
	maxChars   int
	constraint string
}

// Constraints of the string members, as AWS words them.
const (
	lengthAtMost128  = "Member must have length less than or equal to 128"
	lengthAtMost2048 = "Member must have length less than or equal to 2048"
	hashKeyPattern   = "Member must satisfy regular expression pattern: " + patternHashKey
)

// The longest hash key (2^128-1) and sequence number of the model, in digits.
const (
	hashKeyDigits = 39
	seqNumDigits  = 129
)

// refuse returns the error of a string member at path that the reader could
// not read: err. One certainly longer than the model allows gets the
// ValidationException of its constraint.
func (l *textLimit) refuse(path string, err error) error {
	switch {
	case errors.Is(err, errTooLong) && l.constraint != "":
		return Errorf(CodeValidation, "1 validation error detected: Value of more than %d characters at '%s' failed to satisfy constraint: %s",
			l.maxChars, path, l.constraint)
	case errors.Is(err, errTooLong):
		return fmt.Errorf("member %s: %w", l.name, err)
	}
	return fmt.Errorf("member %s must be a string: %w", l.name, err)
}

// maxShardLevelMetrics is the model's most metrics in one
// EnableEnhancedMonitoring or DisableEnhancedMonitoring call.
const maxShardLevelMetrics = 7

// checkBody walks body, a map in format f, before the reflective decoder
// reads it into v: it checks the wire type of every member the table
// (model.go) has for v's shape, records which of them the body carries in
// d.present, and refuses what no request needs.
func (d *Decoder) checkBody(f Format, body []byte, v any) error {
	var r tokenReader = &d.json
	if f == FormatCBOR {
		d.cbor = cborReader{cursor{buf: body}}
		r = &d.cbor
	} else {
		d.json = jsonReader{cursor{buf: body}}
	}
	defer func() { d.json, d.cbor = jsonReader{}, cborReader{} }()
	ms := modelByShape[reflect.TypeOf(v).Elem()]
	c := &d.open[0]
	var err error
	if *c, err = r.readMap(); err != nil {
		return fmt.Errorf("the body must be a structure: %w", err)
	}
	d.nestedPresent, d.numberFixes = 0, d.numberFixes[:0]
	top, err := d.checkMembers(r, ms, c)
	if err != nil {
		return err
	}
	d.present = top | d.nestedPresent<<nestedShift
	return r.end()
}
