package kinesis

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestTimestamp_JSON(t *testing.T) {
	cases := []struct {
		in   string
		want int64 // milliseconds
	}{
		{"1700000000", 1700000000000},
		{"1700000000.123", 1700000000123},
		{"1700000000.1", 1700000000100},
		{"1459799926.480", 1459799926480},
		{"1.459799926480E9", 1459799926480},     // Java SDK v1 / Jackson doubles
		{"1700000000.1239", 1700000000123},      // sub-millisecond digits truncate
		{"-1.5", -1500},                         // before the epoch
		{"0", 0},                                // the epoch is a time, not "absent"
		{"17000000001e-1", 1700000000100},       // exponent without a point
		{"946684800", 946684800000},             // the SDK snapshots' value
		{"1700000000.000000001", 1700000000000}, // long fractions stay exact
		{"1e-999999999", 0},                     // tiny values truncate without building 10^999999999
		{"-0.0e99999", 0},
	}
	for _, tc := range cases {
		var ts Timestamp
		if err := json.Unmarshal([]byte(tc.in), &ts); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if ts.IsZero() || ts.Millis() != tc.want {
			t.Errorf("%s decoded to %d ms (zero=%v), want %d", tc.in, ts.Millis(), ts.IsZero(), tc.want)
		}
	}
	for _, bad := range []string{`"1700000000"`, `true`, `{}`, `1e400`, `-1e300`, `01`, `1.`, `1e999999999`, `1e99999999999999999999`,
		"1" + strings.Repeat("0", 200)} {
		var ts Timestamp
		if err := json.Unmarshal([]byte(bad), &ts); err == nil {
			t.Errorf("%s decoded to %v", bad, ts)
		}
	}
	var ts Timestamp
	if err := json.Unmarshal([]byte("null"), &ts); err != nil || !ts.IsZero() {
		t.Errorf("null: %v %v", ts, err)
	}
	for ms, want := range map[int64]string{1700000000123: "1700000000.123", 1700000000120: "1700000000.12", 1700000000000: "1700000000", -1500: "-1.5", 0: "0", 5: "0.005"} {
		b, err := json.Marshal(TimestampFromMillis(ms))
		if err != nil || string(b) != want {
			t.Errorf("Marshal(%d ms) = %s, %v; want %s", ms, b, err, want)
		}
	}
}

func TestTimestamp_CBOR(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want int64
	}{
		{"uint", appendCBORInt(nil, 1700000000123), 1700000000123},
		{"tag 1", append([]byte{0xc1}, appendCBORInt(nil, 1700000000123)...), 1700000000123},
		{"negative", appendCBORInt(nil, -1500), -1500},
		{"double", binary.BigEndian.AppendUint64([]byte{0xfb}, math.Float64bits(1700000000123.9)), 1700000000123},
		{"half", []byte{0xf9, 0x3c, 0x00}, 1},
		{"single", []byte{0xfa, 0x47, 0xc3, 0x50, 0x00}, 100000},
	}
	for _, tc := range cases {
		var ts Timestamp
		if err := ts.UnmarshalCBOR(tc.in); err != nil || ts.Millis() != tc.want || ts.IsZero() {
			t.Errorf("%s: %d ms, %v; want %d", tc.name, ts.Millis(), err, tc.want)
		}
	}
	for name, bad := range map[string][]byte{
		"tag 0":    {0xc0, 0x01},
		"text":     {0x61, 0x31},
		"NaN":      {0xf9, 0x7e, 0x00},
		"too big":  {0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"trailing": {0x01, 0x01},
		"empty":    {},
	} {
		var ts Timestamp
		if err := ts.UnmarshalCBOR(bad); err == nil {
			t.Errorf("%s decoded to %v", name, ts)
		}
	}
	var ts Timestamp
	if err := ts.UnmarshalCBOR([]byte{cborNull}); err != nil || !ts.IsZero() {
		t.Errorf("null: %v %v", ts, err)
	}
	b, _ := TimestampFromMillis(1700000000123).MarshalCBOR()
	if want := appendCBORInt(nil, 1700000000123); string(b) != string(want) {
		t.Errorf("MarshalCBOR = % x, want % x", b, want)
	}
}

func TestTimestamp_Conversions(t *testing.T) {
	tm := time.Date(2024, 2, 29, 12, 0, 0, 987654321, time.UTC)
	ts := TimestampFromTime(tm)
	if ts.Millis() != tm.UnixMilli() || !ts.Time().Equal(tm.Truncate(time.Millisecond)) || ts.String() != "2024-02-29T12:00:00.987Z" {
		t.Errorf("%v %d %v", ts, ts.Millis(), ts.Time())
	}
	var zero Timestamp
	if !zero.IsZero() || !zero.Time().IsZero() || zero.String() != "absent" {
		t.Error("the zero Timestamp is not absent")
	}
	if halfToFloat64(0x7c00) != math.Inf(1) || halfToFloat64(0x0001) != math.Ldexp(1, -24) || halfToFloat64(0xc000) != -2 {
		t.Error("halfToFloat64")
	}
}
