package wire

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeRequest decodes arbitrary bodies as each message. Decoding
// never crashes; a body that decodes re-encodes to bytes that decode to the
// same message.
func FuzzDecodeRequest(f *testing.F) {
	for i, tc := range codecCases() {
		f.Add(uint8(i), tc.in.AppendTo(nil))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		cases := codecCases()
		tc := cases[int(which)%len(cases)]
		fresh := func() Message { return reflect.New(reflect.TypeOf(tc.into).Elem()).Interface().(Message) }
		m := fresh()
		if err := DecodeMessage(body, m); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode error %v does not match ErrMalformed", err)
			}
			return
		}
		again := fresh()
		if err := DecodeMessage(m.AppendTo(nil), again); err != nil {
			t.Fatalf("re-encoded message fails to decode: %v", err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the message:\n %+v\n %+v", m, again)
		}
	})
}
