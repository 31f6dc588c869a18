package ratelimit_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/sluicedb/sluice/ratelimit"
)

func TestLimits_KinesisPreset(t *testing.T) {
	want := ratelimit.Limits{
		WriteBytesPerSec:    1048576,
		WriteRecordsPerSec:  1000,
		ReadBytesPerSec:     2097152,
		ReadCallsPerSec:     5,
		ConsumerBytesPerSec: 2097152,
	}
	if ratelimit.Kinesis != want {
		t.Fatalf("Kinesis = %+v, want %+v", ratelimit.Kinesis, want)
	}
	if ratelimit.Kinesis.IsUnlimited() || !ratelimit.Unlimited.IsUnlimited() {
		t.Fatal("IsUnlimited wrong for the presets")
	}
}

// The JSON form is stored in the engine's catalog: its field names must not
// change.
func TestLimits_JSONFormat(t *testing.T) {
	b, err := json.Marshal(ratelimit.Kinesis)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"write_bytes_per_sec":1048576,"write_records_per_sec":1000,"read_bytes_per_sec":2097152,"read_calls_per_sec":5,"consumer_bytes_per_sec":2097152}`
	if string(b) != want {
		t.Fatalf("json = %s\nwant   %s", b, want)
	}
	var back ratelimit.Limits
	if err := json.Unmarshal(b, &back); err != nil || back != ratelimit.Kinesis {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	b, _ = json.Marshal(ratelimit.Unlimited)
	if err := json.Unmarshal(b, &back); err != nil || !back.IsUnlimited() {
		t.Fatalf("unlimited round trip = %+v, %v (json %s)", back, err, b)
	}
}

func TestPreset(t *testing.T) {
	for name, want := range map[string]ratelimit.Limits{"kinesis": ratelimit.Kinesis, "unlimited": ratelimit.Unlimited} {
		if got, err := ratelimit.Preset(name); err != nil || got != want {
			t.Errorf("Preset(%q) = %+v, %v", name, got, err)
		}
		if got := want.PresetName(); got != name {
			t.Errorf("PresetName of %+v = %q; want %q", want, got, name)
		}
	}
	if got := (ratelimit.Limits{ReadCallsPerSec: 5}).PresetName(); got != "" {
		t.Errorf("PresetName of a custom quota = %q; want none", got)
	}
	_, err := ratelimit.Preset("fast")
	if !errors.Is(err, ratelimit.ErrUnknownPreset) {
		t.Fatalf("Preset(fast) error = %v, want ErrUnknownPreset", err)
	}
	t.Logf("message: %v", err)
}

func TestLimits_Validate(t *testing.T) {
	if err := ratelimit.Kinesis.Validate(); err != nil {
		t.Fatal(err)
	}
	l := ratelimit.Kinesis
	l.ConsumerBytesPerSec = -2
	err := l.Validate()
	if !errors.Is(err, ratelimit.ErrInvalidLimit) {
		t.Fatalf("Validate() = %v, want ErrInvalidLimit", err)
	}
	const want = "ratelimit: consumer_bytes_per_sec is -2; use 0 for unlimited or a positive rate: ratelimit: invalid limit"
	if err.Error() != want {
		t.Fatalf("message %q\nwant    %q", err, want)
	}
}
