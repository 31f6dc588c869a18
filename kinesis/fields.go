package kinesis

import (
	"fmt"
	"reflect"
	"unsafe"
)

// Reading the members of an input shape for validation, without reflection
// per request: the table (model.go) binds each member to its field's offset
// once, at start-up, after checking that the field's Go type is one these
// readers know (a mismatch panics at start-up, never at a request). A 500-record
// PutRecords is validated on every call, so its entries are read this way.

// fieldLayout is how a member's field is laid out in its structure.
type fieldLayout struct {
	off uintptr // offset of the field in its structure
	// ptr: the field is a pointer (*int32, *struct) rather than a value.
	ptr bool
	// elemSize is the size of a list's structure elements.
	elemSize uintptr
	// stringElems: a list's elements are strings (or string types).
	stringElems bool
}

// bindLayout checks that t, the Go type of mb's field, is one the readers
// below handle for mb's type, and records its layout.
func (mb *member) bindLayout(where string, f reflect.StructField) {
	t := f.Type
	l := fieldLayout{off: f.Offset}
	ok := false
	switch mb.typ {
	case typeString:
		ok = t.Kind() == reflect.String
	case typeInteger:
		l.ptr = t.Kind() == reflect.Pointer
		ok = t.Kind() == reflect.Int32 || l.ptr && t.Elem().Kind() == reflect.Int32
	case typeBlob:
		ok = t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8
	case typeList:
		if ok = t.Kind() == reflect.Slice; ok {
			switch t.Elem().Kind() {
			case reflect.String:
				l.stringElems = true
			case reflect.Struct:
				l.elemSize = t.Elem().Size()
			default:
				ok = false
			}
		}
	case typeMap:
		ok = t == reflect.TypeFor[map[string]string]()
	case typeStructure:
		l.ptr = t.Kind() == reflect.Pointer
		ok = t.Kind() == reflect.Struct || l.ptr && t.Elem().Kind() == reflect.Struct
	case typeBoolean, typeTimestamp:
		ok = true // no constraint reads them
	}
	if !ok {
		panic(fmt.Sprintf("kinesis: %s.%s: the table's type %d does not fit the Go type %s", where, mb.wire, mb.typ, t))
	}
	mb.layout = l
}

// field returns the address of mb's field in the structure at base.
func (mb *member) field(base unsafe.Pointer) unsafe.Pointer { return unsafe.Add(base, mb.layout.off) }

func (mb *member) stringIn(base unsafe.Pointer) string { return *(*string)(mb.field(base)) }

func (mb *member) bytesIn(base unsafe.Pointer) []byte { return *(*[]byte)(mb.field(base)) }

func (mb *member) tagsIn(base unsafe.Pointer) map[string]string {
	return *(*map[string]string)(mb.field(base))
}

// int32In returns an integer member, ok false when its pointer is nil.
func (mb *member) int32In(base unsafe.Pointer) (x int32, ok bool) {
	p := mb.field(base)
	if mb.layout.ptr {
		ip := *(**int32)(p)
		if ip == nil {
			return 0, false
		}
		return *ip, true
	}
	return *(*int32)(p), true
}

// structIn returns the address of a structure member, nil when its pointer
// is nil.
func (mb *member) structIn(base unsafe.Pointer) unsafe.Pointer {
	p := mb.field(base)
	if mb.layout.ptr {
		return *(*unsafe.Pointer)(p)
	}
	return p
}

// sliceHeader is the layout of a Go slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// listIn returns a list member's elements and length; nil data and a false
// present for a nil slice.
func (mb *member) listIn(base unsafe.Pointer) (data unsafe.Pointer, n int, present bool) {
	h := (*sliceHeader)(mb.field(base))
	return h.data, h.len, h.data != nil
}

// stringElem returns element i of a list of strings.
func stringElem(data unsafe.Pointer, i int) string {
	return *(*string)(unsafe.Add(data, uintptr(i)*unsafe.Sizeof("")))
}

// structElem returns the address of element i of a list of structures.
func (mb *member) structElem(data unsafe.Pointer, i int) unsafe.Pointer {
	return unsafe.Add(data, uintptr(i)*mb.layout.elemSize)
}
