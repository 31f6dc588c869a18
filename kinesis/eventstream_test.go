package kinesis

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkes "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/fxamacker/cbor/v2"
)

// sdkDecode decodes one message with the AWS SDK's own event-stream decoder.
func sdkDecode(t *testing.T, msg []byte) sdkes.Message {
	t.Helper()
	r := bytes.NewReader(msg)
	m, err := sdkes.NewDecoder().Decode(r, nil)
	if err != nil {
		t.Fatalf("SDK decoder rejected % x: %v", msg, err)
	}
	if r.Len() != 0 {
		t.Fatalf("SDK decoder left %d bytes", r.Len())
	}
	return m
}

func sdkHeader(t *testing.T, m sdkes.Message, name string) string {
	t.Helper()
	v := m.Headers.Get(name)
	if v == nil {
		t.Fatalf("header %s missing", name)
	}
	return v.String()
}

// TestEventStreamEncoder_SDKDecodes checks every message kind with the SDK's decoder.
func TestEventStreamEncoder_SDKDecodes(t *testing.T) {
	var e EventStreamEncoder
	ev := &SubscribeToShardEvent{Records: sdkOutputs()["GetRecords"].(*GetRecordsOutput).Records, ContinuationSequenceNumber: "3", MillisBehindLatest: 7, ChildShards: []ChildShard{testChild}}
	for _, f := range []Format{FormatJSON, FormatCBOR} {
		ct := "application/json"
		if f == FormatCBOR {
			ct = ContentTypeCBOR
		}
		m := sdkDecode(t, e.InitialResponse(f))
		if sdkHeader(t, m, ":message-type") != "event" || sdkHeader(t, m, ":event-type") != "initial-response" || sdkHeader(t, m, ":content-type") != ct {
			t.Errorf("%s initial-response headers %v", f, m.Headers)
		}

		m = sdkDecode(t, e.SubscribeToShardEvent(f, ev))
		if sdkHeader(t, m, ":message-type") != "event" || sdkHeader(t, m, ":event-type") != "SubscribeToShardEvent" || sdkHeader(t, m, ":content-type") != ct {
			t.Errorf("%s event headers %v", f, m.Headers)
		}
		var got SubscribeToShardEvent
		var err error
		if f == FormatCBOR {
			err = cborDecMode.Unmarshal(m.Payload, &got)
		} else {
			err = json.Unmarshal(m.Payload, &got)
		}
		if err != nil {
			t.Fatalf("%s payload: %v", f, err)
		}
		if got.ContinuationSequenceNumber != "3" || got.MillisBehindLatest != 7 || len(got.Records) != 3 ||
			!bytes.Equal(got.Records[1].Data, testBlobB) || got.Records[0].ApproximateArrivalTimestamp != testTS || len(got.ChildShards) != 1 {
			t.Errorf("%s payload decoded to %+v", f, got)
		}

		m = sdkDecode(t, e.Exception(f, Errorf(CodeResourceInUse, "another subscription took over")))
		if sdkHeader(t, m, ":message-type") != "exception" || sdkHeader(t, m, ":exception-type") != "ResourceInUseException" {
			t.Errorf("%s exception headers %v", f, m.Headers)
		}
		var body map[string]string
		if f == FormatCBOR {
			err = cbor.Unmarshal(m.Payload, &body)
		} else {
			err = json.Unmarshal(m.Payload, &body)
		}
		if err != nil || body["message"] != "another subscription took over" {
			t.Errorf("%s exception payload %q: %v", f, m.Payload, err)
		}
	}
}

// TestDecodeEventStreamMessage_SDKEncoded decodes messages the SDK's encoder
// wrote, with every header type.
func TestDecodeEventStreamMessage_SDKEncoded(t *testing.T) {
	var msg sdkes.Message
	msg.Headers.Set(":message-type", sdkes.StringValue("event"))
	msg.Headers.Set("b", sdkes.BoolValue(true))
	msg.Headers.Set("f", sdkes.BoolValue(false))
	msg.Headers.Set("i8", sdkes.Int8Value(-3))
	msg.Headers.Set("i16", sdkes.Int16Value(300))
	msg.Headers.Set("i32", sdkes.Int32Value(-70000))
	msg.Headers.Set("i64", sdkes.Int64Value(1<<40))
	msg.Headers.Set("bytes", sdkes.BytesValue([]byte{1, 2, 3}))
	msg.Headers.Set("ts", sdkes.TimestampValue(time.UnixMilli(1700000000123)))
	msg.Headers.Set("uuid", sdkes.UUIDValue{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	msg.Payload = []byte(`{"x":1}`)
	var buf bytes.Buffer
	if err := sdkes.NewEncoder().Encode(&buf, msg); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("next message")
	got, n, err := DecodeEventStreamMessage(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if n != buf.Len()-len("next message") {
		t.Errorf("consumed %d of a %d-byte message", n, buf.Len()-len("next message"))
	}
	if string(got.Payload) != `{"x":1}` || len(got.Headers) != 10 {
		t.Fatalf("decoded %+v", got)
	}
	wantRaw := map[string][]byte{
		"b": {}, "f": {}, "i8": {0xfd}, "i16": {0x01, 0x2c}, "i32": {0xff, 0xfe, 0xee, 0x90},
		"i64": {0, 0, 1, 0, 0, 0, 0, 0}, "bytes": {1, 2, 3}, "ts": {0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b},
		"uuid": {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
	}
	for _, h := range got.Headers[1:] {
		if !bytes.Equal(h.Value, wantRaw[h.Name]) {
			t.Errorf("header %s value % x, want % x", h.Name, h.Value, wantRaw[h.Name])
		}
	}
	if v, ok := got.Header(":message-type"); !ok || v != "event" {
		t.Errorf(":message-type = %q, %v", v, ok)
	}
}

// TestDecodeEventStreamMessage_Corruption flips every bit of a message and
// cuts it at every length: the decoder never accepts a damaged message.
func TestDecodeEventStreamMessage_Corruption(t *testing.T) {
	var e EventStreamEncoder
	msg := append([]byte(nil), e.SubscribeToShardEvent(FormatJSON, &SubscribeToShardEvent{
		Records: []Record{{SequenceNumber: "1", Data: []byte("abc"), PartitionKey: "k"}}, ContinuationSequenceNumber: "1"})...)
	for i := range msg {
		for bit := 0; bit < 8; bit++ {
			bad := append([]byte(nil), msg...)
			bad[i] ^= 1 << bit
			_, _, err := DecodeEventStreamMessage(bad)
			if !errors.Is(err, ErrEventStreamCorrupt) && !errors.Is(err, ErrEventStreamShort) {
				t.Fatalf("flipping bit %d of byte %d: err = %v", bit, i, err)
			}
		}
	}
	for n := 0; n < len(msg); n++ {
		if _, _, err := DecodeEventStreamMessage(msg[:n]); !errors.Is(err, ErrEventStreamShort) {
			t.Fatalf("prefix of %d bytes: err = %v, want ErrEventStreamShort", n, err)
		}
	}
}

// TestEventStreamEncoder_NoAllocations encodes a 500-record event without
// allocating once the buffer has grown.
func TestEventStreamEncoder_NoAllocations(t *testing.T) {
	recs := benchRecordViews(500, 100)
	var e EventStreamEncoder
	encode := func() {
		w := e.BeginSubscribeToShardEvent(FormatJSON)
		for i := range recs {
			w.Append(&recs[i])
		}
		e.FinishSubscribeToShardEvent("12345", 0, nil)
	}
	encode()
	if allocs := testing.AllocsPerRun(20, encode); allocs != 0 {
		t.Errorf("%.1f allocations per 500-record event", allocs)
	}
}

// TestEventStream_GoSDKSubscription serves a whole subscription to the
// unmodified Go SDK: the initial response, two events pushed one at a time,
// and an exception that ends the stream.
func TestEventStream_GoSDKSubscription(t *testing.T) {
	pushed := make(chan struct{})
	fake := newFakeKinesis(t)
	fake.setRespond(func(w http.ResponseWriter, c captured) {
		var in SubscribeToShardInput
		var d Decoder
		if err := d.Decode(FormatJSON, c.body, &in); err != nil {
			WriteError(w, FormatJSON, err)
			return
		}
		w.Header().Set("Content-Type", ContentTypeEventStream)
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		var e EventStreamEncoder
		_, _ = w.Write(e.InitialResponse(FormatJSON))
		fl.Flush()
		// First event: built with the streaming writer, as the handler will.
		rw := e.BeginSubscribeToShardEvent(FormatJSON)
		rw.Append(&RecordView{SequenceNumber: []byte("100"), Arrival: testTS, PartitionKey: []byte("k1"), Data: []byte("first"), EncryptionType: EncryptionTypeNone})
		_, _ = w.Write(e.FinishSubscribeToShardEvent("100", 2500, nil))
		fl.Flush()
		<-pushed // the client saw the first event before the second is written
		_, _ = w.Write(e.SubscribeToShardEvent(FormatJSON, &SubscribeToShardEvent{MillisBehindLatest: 0, ChildShards: []ChildShard{testChild}}))
		_, _ = w.Write(e.Exception(FormatJSON, Errorf(CodeResourceInUse, "subscription of %s replaced", in.ShardId)))
		fl.Flush()
	})
	out, err := fake.client().SubscribeToShard(context.Background(), &sdk.SubscribeToShardInput{
		ConsumerARN: aws.String(testCARN), ShardId: aws.String("shardId-000000000007"),
		StartingPosition: &sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeLatest}})
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()

	ev := nextEvent(t, stream.Events())
	if len(ev.Records) != 1 || string(ev.Records[0].Data) != "first" || aws.ToString(ev.Records[0].PartitionKey) != "k1" ||
		aws.ToString(ev.ContinuationSequenceNumber) != "100" || aws.ToInt64(ev.MillisBehindLatest) != 2500 ||
		!ev.Records[0].ApproximateArrivalTimestamp.Equal(testTS.Time()) || ev.Records[0].EncryptionType != sdktypes.EncryptionTypeNone {
		t.Errorf("first event %+v", ev)
	}
	close(pushed)
	ev = nextEvent(t, stream.Events())
	if len(ev.Records) != 0 || ev.ContinuationSequenceNumber != nil || len(ev.ChildShards) != 1 ||
		aws.ToString(ev.ChildShards[0].ShardId) != testChild.ShardId || ev.ChildShards[0].ParentShards[0] != testChild.ParentShards[0] {
		t.Errorf("closing event %+v", ev)
	}
	if _, ok := <-stream.Events(); ok {
		t.Fatal("an event after the exception")
	}
	var inUse *sdktypes.ResourceInUseException
	if err := stream.Err(); !errors.As(err, &inUse) || aws.ToString(inUse.Message) != "subscription of shardId-000000000007 replaced" {
		t.Errorf("stream error %T %v, want ResourceInUseException", err, err)
	}
}

func nextEvent(t *testing.T, events <-chan sdktypes.SubscribeToShardEventStream) sdktypes.SubscribeToShardEvent {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("stream ended early")
		}
		v, ok := e.(*sdktypes.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok {
			t.Fatalf("event %T", e)
		}
		return v.Value
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	panic("unreachable")
}

// benchRecordViews returns n records of size bytes in the engine's form.
func benchRecordViews(n, size int) []RecordView {
	recs := make([]RecordView, n)
	for i := range recs {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i + j)
		}
		recs[i] = RecordView{
			SequenceNumber: []byte("4959033827149025660855969253836157109592157598913658" + string(rune('0'+i%10))),
			Arrival:        TimestampFromMillis(1700000000000 + int64(i)),
			PartitionKey:   []byte("partition-key-" + string(rune('a'+i%26))),
			Data:           data,
			EncryptionType: EncryptionTypeNone,
		}
	}
	return recs
}

// FuzzDecodeEventStreamMessage decodes arbitrary bytes: the decoder never
// panics, fails only with ErrEventStreamShort or ErrEventStreamCorrupt, and
// whatever it accepts the AWS SDK's decoder reads to the same headers and
// payload.
func FuzzDecodeEventStreamMessage(f *testing.F) {
	var e EventStreamEncoder
	f.Add(append([]byte(nil), e.InitialResponse(FormatJSON)...))
	f.Add(append([]byte(nil), e.Exception(FormatCBOR, Errorf(CodeInternalFailure, "x"))...))
	f.Add(append([]byte(nil), e.SubscribeToShardEvent(FormatJSON, &SubscribeToShardEvent{
		Records: []Record{{SequenceNumber: "1", Data: []byte("abc"), PartitionKey: "k"}}, ContinuationSequenceNumber: "1"})...))
	var msg sdkes.Message
	msg.Headers.Set("i64", sdkes.Int64Value(7))
	msg.Headers.Set("uuid", sdkes.UUIDValue{})
	msg.Headers.Set("bytes", sdkes.BytesValue([]byte{1}))
	var buf bytes.Buffer
	_ = sdkes.NewEncoder().Encode(&buf, msg)
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkEventStreamDecode(t, b)
		if len(b) >= esMinMessageLen {
			// Also decode b with valid lengths and CRCs, so that the fuzzer
			// reaches the header parser.
			fixed := append([]byte(nil), b...)
			binary.BigEndian.PutUint32(fixed[0:4], uint32(len(fixed)))
			binary.BigEndian.PutUint32(fixed[8:12], crc32.ChecksumIEEE(fixed[:8]))
			binary.BigEndian.PutUint32(fixed[len(fixed)-4:], crc32.ChecksumIEEE(fixed[:len(fixed)-4]))
			checkEventStreamDecode(t, fixed)
		}
	})
}

func checkEventStreamDecode(t *testing.T, b []byte) {
	{
		m, n, err := DecodeEventStreamMessage(b)
		if err != nil {
			if !errors.Is(err, ErrEventStreamShort) && !errors.Is(err, ErrEventStreamCorrupt) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n < esMinMessageLen || n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		theirs, err := sdkes.NewDecoder().Decode(bytes.NewReader(b[:n]), nil)
		if err != nil {
			t.Fatalf("accepted % x, which the SDK rejects: %v", b[:n], err)
		}
		// The SDK keeps one header per name (a later one replaces the value of
		// an earlier one in place); compare with the names in that order.
		var names []string
		seen := map[string]bool{}
		for _, h := range m.Headers {
			if !seen[h.Name] {
				seen[h.Name] = true
				names = append(names, h.Name)
			}
		}
		if !bytes.Equal(theirs.Payload, m.Payload) || len(theirs.Headers) != len(names) {
			t.Fatalf("payload %q / %q, %d / %d headers", m.Payload, theirs.Payload, len(names), len(theirs.Headers))
		}
		for i, name := range names {
			if theirs.Headers[i].Name != name {
				t.Fatalf("header %d: %q, SDK %q", i, name, theirs.Headers[i].Name)
			}
		}
	}
}
