package kinesis

import (
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
	m := &d.open[0]
	var err error
	if *m, err = r.readMap(); err != nil {
		return err
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
		if lim := listLimitOf(r, key, shape); lim != nil {
			err = d.checkList(r, lim)
		} else {
			err = r.skip()
		}
		if err != nil {
			return err
		}
	}
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
