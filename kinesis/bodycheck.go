package kinesis

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
)

// The reflective decoders (encoding/json, fxamacker/cbor) build every map
// entry, list element and string a body holds before validation can count
// them. checkBody walks the body first with the hand-written readers, which
// allocate nothing, and refuses what no request needs (the decoder limits of
// tokens.go) and lists past the model's length, so that a hostile body costs
// what the model allows and not what it declares.

// listLimit is the model's most entries of a list or map member of a
// request, with its path in validation messages.
type listLimit struct {
	name, path string
	max        int
	isMap      bool
}

// listLimits are the list and map members of the request shapes. A member
// counts only in the shapes that have it (a Tags member sent to another
// operation is skipped, as the decoders ignore it).
var listLimits = [...]listLimit{
	{"Tags", "tags", maxTagsPerCall, true},
	{"TagKeys", "tagKeys", maxTagKeysPerCall, false},
	{"ShardLevelMetrics", "shardLevelMetrics", maxShardLevelMetrics, false},
}

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
	lengthAtMost512  = "Member must have length less than or equal to 512"
	lengthAtMost2048 = "Member must have length less than or equal to 2048"
	hashKeyPattern   = "Member must satisfy regular expression pattern: " + patternHashKey
	seqNumPattern    = "Member must satisfy regular expression pattern: " + patternSeqNum
)

// The longest hash key (2^128-1) and sequence number of the model, in digits.
const (
	hashKeyDigits = 39
	seqNumDigits  = 129
)

// textLimits are the string members of the request shapes with a length
// (or a pattern that bounds it) in the model. As with listLimits, a member
// counts only in the shapes that have it as a string.
var textLimits = [...]textLimit{
	{"StreamName", "streamName", maxNameLen, lengthAtMost128},
	{"ConsumerName", "consumerName", maxNameLen, lengthAtMost128},
	{"ShardId", "shardId", maxNameLen, lengthAtMost128},
	{"ExclusiveStartShardId", "exclusiveStartShardId", maxNameLen, lengthAtMost128},
	{"ExclusiveStartStreamName", "exclusiveStartStreamName", maxNameLen, lengthAtMost128},
	{"ExclusiveStartTagKey", "exclusiveStartTagKey", maxTagKeyLen, lengthAtMost128},
	{"ShardToSplit", "shardToSplit", maxNameLen, lengthAtMost128},
	{"ShardToMerge", "shardToMerge", maxNameLen, lengthAtMost128},
	{"AdjacentShardToMerge", "adjacentShardToMerge", maxNameLen, lengthAtMost128},
	{"StreamARN", "streamARN", maxARNLen, lengthAtMost2048},
	{"ConsumerARN", "consumerARN", maxARNLen, lengthAtMost2048},
	{"ResourceARN", "resourceARN", maxARNLen, lengthAtMost2048},
	{"KeyId", "keyId", maxKeyIDLen, lengthAtMost2048},
	{"ShardIterator", "shardIterator", maxIteratorLen, lengthAtMost512},
	{"Policy", "policy", maxPolicyLen, "Member must have length less than or equal to 20480"},
	{"PartitionKey", "partitionKey", maxPartitionKey, "Member must have length less than or equal to 256"},
	{"ExplicitHashKey", "explicitHashKey", hashKeyDigits, hashKeyPattern},
	{"NewStartingHashKey", "newStartingHashKey", hashKeyDigits, hashKeyPattern},
	{"StartingSequenceNumber", "startingSequenceNumber", seqNumDigits, seqNumPattern},
	{"SequenceNumberForOrdering", "sequenceNumberForOrdering", seqNumDigits, seqNumPattern},
}

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
// reads it into v.
func (d *Decoder) checkBody(f Format, body []byte, v any) error {
	var r tokenReader = &d.json
	if f == FormatCBOR {
		d.cbor = cborReader{cursor{buf: body}}
		r = &d.cbor
	} else {
		d.json = jsonReader{cursor{buf: body}}
	}
	defer func() { d.json, d.cbor = jsonReader{}, cborReader{} }()
	shape := reflect.TypeOf(v).Elem()
	return d.eachMember(r, func(key []byte) error {
		if lim := listLimitOf(r, key, shape); lim != nil {
			return d.checkList(r, lim)
		}
		if lim := textLimitOf(r, key, shape); lim != nil {
			_, scratch, _, err := r.readText(d.scratch, lim.maxChars)
			d.scratch = scratch
			if err != nil {
				return lim.refuse(lim.path, err)
			}
			return nil
		}
		return r.skip()
	})
}

// listLimitOf returns the limit of the list or map member that key selects
// in shape, or nil.
func listLimitOf(r tokenReader, key []byte, shape reflect.Type) *listLimit {
	for i := range listLimits {
		lim := &listLimits[i]
		if r.keyIs(key, lim.name) {
			if _, ok := shape.FieldByName(lim.name); ok {
				return lim
			}
		}
	}
	return nil
}

// textLimitOf returns the limit of the string member that key selects in
// shape, or nil.
func textLimitOf(r tokenReader, key []byte, shape reflect.Type) *textLimit {
	for i := range textLimits {
		lim := &textLimits[i]
		if r.keyIs(key, lim.name) {
			if f, ok := shape.FieldByName(lim.name); ok && f.Type.Kind() == reflect.String {
				return lim
			}
		}
	}
	return nil
}

// checkList counts the entries of a list or map member, stopping at the
// first past the model's limit.
func (d *Decoder) checkList(r tokenReader, lim *listLimit) error {
	if null, err := r.readNull(); null || err != nil {
		return err
	}
	c := &d.open[1]
	var err error
	if lim.isMap {
		*c, err = r.readMap()
	} else {
		*c, err = r.readArray()
	}
	if err != nil {
		kind := "list"
		if lim.isMap {
			kind = "map"
		}
		return fmt.Errorf("member %s must be a %s: %w", lim.name, kind, err)
	}
	for n := 0; ; n++ {
		var ok bool
		if lim.isMap {
			_, d.scratch, ok, err = r.nextKey(c, d.scratch)
		} else {
			ok, err = r.nextElement(c)
		}
		if !ok || err != nil {
			return err
		}
		if n == lim.max {
			return ValidationError(lim.path, "["+strconv.Itoa(lim.max+1)+" or more items]",
				"Member must have length less than or equal to "+strconv.Itoa(lim.max))
		}
		if err := r.skip(); err != nil {
			return err
		}
	}
}
